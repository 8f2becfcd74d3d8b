/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control socket: a unix stream socket, root only (SO_PEERCRED). A client sends one
 * request line and reads one reply until the daemon closes the connection. Clients are
 * served from the daemon's loop without blocking it.
 */
#ifndef DYNMEM_CTL_H
#define DYNMEM_CTL_H

#include <stddef.h>

struct loop;
struct ctl;

/* Answers one request; returns a malloc'd reply (the server frees it), NULL on ENOMEM. */
typedef char *(*ctl_handler)(void *ctx, const char *request);

/* Binds path (replacing a stale socket), mode 0600, and serves clients in loop. */
struct ctl *ctl_open(struct loop *l, const char *path, ctl_handler fn, void *ctx);
void ctl_close(struct ctl *c);

/* Client side: sends request, returns the malloc'd reply or NULL and errno. */
char *ctl_request(const char *path, const char *request, int timeout_ms);

#endif
