/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The daemon's one loop: epoll over fds, each with a callback. No threads: every source
 * (ticks, signals, the ring buffer, QMP sockets, control clients) is an fd here.
 */
#ifndef DYNMEM_LOOP_H
#define DYNMEM_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

struct loop;
/* events: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as epoll reported them. */
typedef void (*loop_fn)(struct loop *l, int fd, uint32_t events, void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for events (EPOLLIN, EPOLLOUT...); adding an fd again changes its events. */
int loop_watch(struct loop *l, int fd, uint32_t events, loop_fn fn, void *ctx);
int loop_unwatch(struct loop *l, int fd);

/* Runs callbacks for one batch of ready fds, waiting up to timeout_ms (-1: forever). */
int loop_run_once(struct loop *l, int timeout_ms);
/* Until loop_stop(). */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
bool loop_stopped(const struct loop *l);

__u64 loop_now_ns(void); /* CLOCK_MONOTONIC */

#endif
