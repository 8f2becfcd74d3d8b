// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket served by the real loop; clients in child processes, as `dynmem`
 * would be. Replies larger than a socket buffer must arrive whole without blocking the loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "ctl.h"
#include "loop.h"

#define BIG_REPLY (1 << 20)

static char sock_path[64];
static int handled;

static char *answer(void *ctx, const char *request)
{
	char *reply;

	(void)ctx;
	handled++;
	if (!strcmp(request, "big")) {
		reply = malloc(BIG_REPLY + 1);
		memset(reply, 'x', BIG_REPLY);
		reply[BIG_REPLY] = '\0';
		return reply;
	}
	if (asprintf(&reply, "echo:%s\n", request) < 0)
		return NULL;
	return reply;
}

/* Runs the client in a child; the parent serves until the child exits. */
static int serve_child(struct loop *l, const char *request, uid_t uid, char *out, size_t len)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *reply;

		if (uid && setuid(uid))
			_exit(3);
		reply = ctl_request(sock_path, request, 5000);
		if (!reply) {
			dprintf(p[1], "errno:%d", errno);
			_exit(1);
		}
		dprintf(p[1], "%zu:%.40s", strlen(reply), reply);
		_exit(0);
	}
	close(p[1]);
	while (waitpid(pid, &status, WNOHANG) == 0)
		loop_run_once(l, 10);
	n = read(p[0], out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	return WEXITSTATUS(status);
}

static void request_and_reply(void **state)
{
	struct loop *l = *state;
	struct ctl *c = ctl_open(l, sock_path, answer, NULL);
	char out[128];

	assert_non_null(c);
	assert_int_equal(serve_child(l, "status", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "12:echo:status\n");
	ctl_close(c);
	assert_int_equal(access(sock_path, F_OK), -1); /* the socket file is gone */
}

static void big_reply_arrives_whole(void **state)
{
	struct loop *l = *state;
	struct ctl *c = ctl_open(l, sock_path, answer, NULL);
	char out[128], want[128];

	assert_non_null(c);
	assert_int_equal(serve_child(l, "big", 0, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%d:%.40s", BIG_REPLY,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_string_equal(out, want);
	ctl_close(c);
}

static void non_root_cannot_connect(void **state)
{
	struct loop *l = *state;
	struct ctl *c = ctl_open(l, sock_path, answer, NULL);
	char out[128];
	int before = handled;

	assert_non_null(c);
	assert_int_equal(serve_child(l, "status", 65534, out, sizeof(out)), 1);
	assert_int_equal(handled, before); /* refused before any request was read */
	ctl_close(c);
}

static void stale_socket_replaced(void **state)
{
	struct loop *l = *state;
	struct ctl *first = ctl_open(l, sock_path, answer, NULL), *second;

	assert_non_null(first);
	/* A daemon that crashed leaves its socket file behind: the next one takes over. */
	second = ctl_open(l, sock_path, answer, NULL);
	assert_non_null(second);
	ctl_close(second);
	ctl_close(first);
}

static int setup(void **state)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/dynmem-ctl-test-%d.sock", getpid());
	signal(SIGPIPE, SIG_IGN);
	*state = loop_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	loop_free(*state);
	unlink(sock_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(request_and_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(big_reply_arrives_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(non_root_cannot_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_socket_replaced, setup, teardown),
	};

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
