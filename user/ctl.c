// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "ctl.h"
#include "loop.h"

#define CTL_MAX_REQUEST 4096

struct client {
	struct ctl *ctl;
	int fd;
	char in[CTL_MAX_REQUEST];
	size_t in_len;
	char *out;
	size_t out_len, out_done;
	struct client *next;
};

struct ctl {
	struct loop *loop;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler fn;
	void *ctx;
	struct client *clients;
};

static void client_free(struct client *cl)
{
	struct client **p = &cl->ctl->clients;

	while (*p && *p != cl)
		p = &(*p)->next;
	if (*p)
		*p = cl->next;
	loop_unwatch(cl->ctl->loop, cl->fd);
	close(cl->fd);
	free(cl->out);
	free(cl);
}

static void client_write(struct client *cl)
{
	while (cl->out_done < cl->out_len) {
		ssize_t n = write(cl->fd, cl->out + cl->out_done, cl->out_len - cl->out_done);

		if (n < 0 && errno == EAGAIN)
			return; /* the loop calls again on EPOLLOUT */
		if (n <= 0)
			break;
		cl->out_done += (size_t)n;
	}
	client_free(cl);
}

static void on_client(struct loop *l, int fd, uint32_t events, void *ctx);

static void client_answer(struct client *cl, const char *request)
{
	cl->out = cl->ctl->fn(cl->ctl->ctx, request);
	if (!cl->out) {
		client_free(cl);
		return;
	}
	cl->out_len = strlen(cl->out);
	loop_watch(cl->ctl->loop, cl->fd, EPOLLOUT, on_client, cl);
	client_write(cl);
}

static void on_client(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct client *cl = ctx;
	char *nl;
	ssize_t n;

	(void)l;
	(void)fd;
	if (cl->out) {
		client_write(cl);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		client_free(cl);
		return;
	}
	n = read(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - 1 - cl->in_len);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_free(cl);
		return;
	}
	cl->in_len += (size_t)n;
	cl->in[cl->in_len] = '\0';
	nl = strchr(cl->in, '\n');
	if (nl) {
		*nl = '\0';
		client_answer(cl, cl->in);
	} else if (cl->in_len == sizeof(cl->in) - 1) {
		client_free(cl); /* no line within 4 KiB: not a dynmem client */
	}
}

static bool peer_is_root(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && cred.uid == 0;
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct ctl *c = ctx;
	struct client *cl;
	int cfd;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	if (!peer_is_root(cfd)) {
		static const char refusal[] = "{\"error\":\"dynmem's control socket is for root\"}\n";

		if (write(cfd, refusal, sizeof(refusal) - 1) < 0) {
			/* the client is gone: nothing to tell it */
		}
		close(cfd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl || loop_watch(l, cfd, EPOLLIN, on_client, cl)) {
		free(cl);
		close(cfd);
		return;
	}
	cl->ctl = c;
	cl->fd = cfd;
	cl->next = c->clients;
	c->clients = cl;
}

struct ctl *ctl_open(struct loop *l, const char *path, ctl_handler fn, void *ctx)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ctl *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->loop = l;
	c->fn = fn;
	c->ctx = ctx;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		err = ENAMETOOLONG;
		goto fail;
	}
	strcpy(addr.sun_path, path);
	strcpy(c->path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		goto fail;
	}
	unlink(path); /* a socket left by a crashed daemon */
	if (bind(c->fd, (struct sockaddr *)&addr, sizeof(addr)) || chmod(path, 0600) ||
	    listen(c->fd, 16) || loop_watch(l, c->fd, EPOLLIN, on_accept, c)) {
		err = errno ?: EIO;
		close(c->fd);
		goto fail;
	}
	return c;
fail:
	free(c);
	errno = err;
	return NULL;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	while (c->clients)
		client_free(c->clients);
	loop_unwatch(c->loop, c->fd);
	close(c->fd);
	unlink(c->path);
	free(c);
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n = poll(&p, 1, timeout_ms);

	return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

char *ctl_request(const char *path, const char *request, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t cap = 65536, len = 0;
	char *buf = NULL;
	int fd = -1, err = 0;
	ssize_t n;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	buf = malloc(cap);
	if (fd < 0 || !buf || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		goto out;
	}
	if (dprintf(fd, "%s\n", request) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		err = wait_fd(fd, POLLIN, timeout_ms);
		if (err)
			goto out;
		if (len + 1 == cap) {
			char *grown = realloc(buf, cap * 2);

			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		errno = -err;
		return NULL;
	}
	return buf;
}
