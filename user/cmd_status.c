// SPDX-License-Identifier: GPL-2.0-only
/* `dynmem status [--json]`: the daemon's view of every VM, from its control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "config.h"
#include "ctl.h"
#include "size.h"
#include "verbs.h"

static const char status_usage[] = "usage: dynmem status [--json] [--socket PATH]\n";

static __u64 u64_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_string(v) ?
		       json_object_get_string(v) : "";
}

static const char *size_of(json_object *o, const char *key, char *buf, size_t len)
{
	return size_format(buf, len, u64_of(o, key));
}

static void print_host(json_object *host)
{
	char a[32], b[32], c[32], e[32];

	printf("host: total %s, reserve %s, budget %s, assigned %s, numa spanning %s%s%s\n",
	       size_of(host, "total_bytes", a, sizeof(a)),
	       size_of(host, "reserve_bytes", b, sizeof(b)),
	       size_of(host, "budget_bytes", c, sizeof(c)),
	       size_of(host, "assigned_bytes", e, sizeof(e)),
	       json_object_get_boolean(json_object_object_get(host, "numa_spanning")) ? "on" : "off",
	       str_of(host, "alarm")[0] ? "; ALARM: " : "", str_of(host, "alarm"));
}

static void print_vm(json_object *vm)
{
	char mn[32], mx[32], as[32], dm[32], avail[16] = "-";
	json_object *av = json_object_object_get(vm, "availability_pct");

	if (av)
		snprintf(avail, sizeof(avail), "%+.0f%%", json_object_get_double(av));
	printf("%-16s %-9s %7s %7s %8s %8s %6s %6llu %-15s %s\n", str_of(vm, "name"),
	       str_of(vm, "state"), size_of(vm, "minimum_bytes", mn, sizeof(mn)),
	       size_of(vm, "maximum_bytes", mx, sizeof(mx)),
	       size_of(vm, "assigned_bytes", as, sizeof(as)),
	       size_of(vm, "demand_bytes", dm, sizeof(dm)), avail,
	       (unsigned long long)u64_of(vm, "weight"), str_of(vm, "reason"), str_of(vm, "problem"));
}

static int print_text(const char *reply)
{
	json_object *root = json_tokener_parse(reply), *vms;
	size_t n;

	if (!root || !json_object_object_get_ex(root, "vms", &vms)) {
		fprintf(stderr, "dynmem status: the daemon answered: %s", reply);
		json_object_put(root);
		return 1;
	}
	print_host(json_object_object_get(root, "host"));
	printf("%-16s %-9s %7s %7s %8s %8s %6s %6s %-15s %s\n", "VM", "STATE", "MIN", "MAX",
	       "ASSIGNED", "DEMAND", "AVAIL", "WEIGHT", "REASON", "PROBLEM");
	n = json_object_array_length(vms);
	for (size_t i = 0; i < n; i++)
		print_vm(json_object_array_get_idx(vms, i));
	json_object_put(root);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	const char *socket_path = getenv("DYNMEM_SOCKET") ?: CONFIG_DEFAULT_SOCKET;
	bool json = false;
	char *reply;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			socket_path = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(status_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "dynmem status: unknown argument '%s'\n%s", argv[i],
				status_usage);
			return 2;
		}
	}
	reply = ctl_request(socket_path, "status", 5000);
	if (!reply) {
		fprintf(stderr, "dynmem status: cannot reach dynmemd at %s: %s%s\n", socket_path,
			strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ? " (is dynmemd running?)" :
			errno == EACCES ? " (root only)" : "");
		return 1;
	}
	rc = json ? (fputs(reply, stdout), putchar('\n'), 0) : print_text(reply);
	free(reply);
	return rc;
}
