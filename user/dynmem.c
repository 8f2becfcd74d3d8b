// SPDX-License-Identifier: GPL-2.0-only
/* dynmem: the operator's command line. One verb per job; see `dynmem help`. */
#include <stdio.h>
#include <string.h>
#include "verbs.h"

#ifndef DYNMEM_VERSION
#define DYNMEM_VERSION "0.1"
#endif

struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct verb verbs[] = {
	{ "stat", cmd_stat, "watch the eBPF observer's per-VM counters (dynmem stat --help)" },
	{ "plan", cmd_plan,
	  "what each VM would get on a host, from a JSON scenario (plan --help)" },
	{ "status", cmd_status, "every VM as dynmemd sees it: settings, demand, assigned" },
	{ "top", cmd_top, "the live view: every VM's memory, paging, large pages, NUMA" },
	{ "set", cmd_set, "change a running VM's minimum, maximum, buffer, weight or numa" },
};

static int usage(FILE *out, int code)
{
	fprintf(out, "usage: dynmem VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-8s %s\n", verbs[i].name, verbs[i].help);
	fprintf(out, "  %-8s %s\n", "help", "this text");
	fprintf(out, "  %-8s %s\n", "version", "print the version");
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, 2);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(stdout, 0);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("dynmem %s\n", DYNMEM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "dynmem: unknown verb '%s'\n\n", argv[1]);
	return usage(stderr, 2);
}
