// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "loop.h"

struct watch {
	int fd;
	loop_fn fn;
	void *ctx;
	bool dead; /* unwatched: freed after the batch that may still point at it */
	struct watch *next;
};

struct loop {
	int epfd;
	bool stopped;
	struct watch *watches; /* few: one per VM socket, client and system fd */
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = errno;

		free(l);
		errno = err;
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->watches) {
		struct watch *w = l->watches;

		l->watches = w->next;
		free(w);
	}
	close(l->epfd);
	free(l);
}

static struct watch **find(struct loop *l, int fd)
{
	struct watch **w = &l->watches;

	while (*w && ((*w)->fd != fd || (*w)->dead))
		w = &(*w)->next;
	return w;
}

int loop_watch(struct loop *l, int fd, uint32_t events, loop_fn fn, void *ctx)
{
	struct watch **slot = find(l, fd), *w = *slot;
	struct epoll_event ev = { .events = events };
	int op = w ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
	}
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, op, fd, &ev)) {
		int err = -errno;

		if (op == EPOLL_CTL_ADD)
			free(w);
		return err;
	}
	*w = (struct watch){ .fd = fd, .fn = fn, .ctx = ctx, .next = w->next };
	if (op == EPOLL_CTL_ADD) {
		w->next = l->watches;
		l->watches = w;
	}
	return 0;
}

int loop_unwatch(struct loop *l, int fd)
{
	struct watch **slot = find(l, fd), *w = *slot;

	if (!w)
		return -ENOENT;
	/* The fd may already be closed (a VM went away): epoll forgot it then. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = true;
	return 0;
}

static void sweep(struct loop *l)
{
	struct watch **w = &l->watches;

	while (*w) {
		struct watch *x = *w;

		if (x->dead) {
			*w = x->next;
			free(x);
		} else {
			w = &x->next;
		}
	}
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(l->epfd, evs, 32, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct watch *w = evs[i].data.ptr;

		/* A callback earlier in this batch may have unwatched this one. */
		if (!w->dead)
			w->fn(l, w->fd, evs[i].events, w->ctx);
	}
	sweep(l);
	return n;
}

int loop_run(struct loop *l)
{
	int err = 0;

	while (!l->stopped && err >= 0)
		err = loop_run_once(l, -1);
	return err < 0 ? err : 0;
}

void loop_stop(struct loop *l)
{
	l->stopped = true;
}

bool loop_stopped(const struct loop *l)
{
	return l->stopped;
}

__u64 loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}
