// SPDX-License-Identifier: GPL-2.0-only
/* `dynmem set VM key=value...`: change a running VM's settings through dynmemd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "config.h"
#include "ctl.h"
#include "verbs.h"

static const char set_usage[] =
	"usage: dynmem set [--socket PATH] VM key=value...\n"
	"  While the VM runs: minimum (down only), maximum (up only), buffer, weight, numa.\n"
	"  Checked like the config file, applied at the next tick, kept across restarts.\n";

int cmd_set(int argc, char **argv)
{
	const char *socket_path = getenv("DYNMEM_SOCKET") ?: CONFIG_DEFAULT_SOCKET;
	char request[4096] = "set";
	json_object *reply_obj, *err_obj;
	size_t len = 3;
	char *reply;
	int rc = 0;

	int first = 1;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(set_usage, stdout);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--socket")) {
		socket_path = argv[2];
		first = 3;
	}
	if (argc - first < 2) {
		fputs(set_usage, stderr);
		return 2;
	}
	for (int i = first; i < argc; i++) {
		int n = snprintf(request + len, sizeof(request) - len, " %s", argv[i]);

		if (strchr(argv[i], ' ') || n < 0 || (size_t)n >= sizeof(request) - len) {
			fprintf(stderr, "dynmem set: '%s': no spaces, and keep it short\n", argv[i]);
			return 2;
		}
		len += (size_t)n;
	}
	reply = ctl_request(socket_path, request, 5000);
	if (!reply) {
		fprintf(stderr, "dynmem set: cannot reach dynmemd at %s: %s\n", socket_path,
			strerror(errno));
		return 1;
	}
	reply_obj = json_tokener_parse(reply);
	if (reply_obj && json_object_object_get_ex(reply_obj, "error", &err_obj)) {
		fprintf(stderr, "dynmem set: refused: %s\n", json_object_get_string(err_obj));
		rc = 1;
	} else {
		printf("%s: set; applied at the next tick\n", argv[first]);
	}
	json_object_put(reply_obj);
	free(reply);
	return rc;
}
