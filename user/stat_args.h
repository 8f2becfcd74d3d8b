/* SPDX-License-Identifier: GPL-2.0-only */
/* `dynmem stat` command line. */
#ifndef DYNMEM_STAT_ARGS_H
#define DYNMEM_STAT_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#define STAT_MAX_CGROUPS 64
#define STAT_MAX_OFF	 16

struct stat_args {
	unsigned int interval_ms; /* default 1000 */
	unsigned long count;	  /* frames to print; 0 = until interrupted */
	bool json;
	const char *cgroups[STAT_MAX_CGROUPS];
	size_t nr_cgroups;
	const char *off[STAT_MAX_OFF + 1]; /* --no-hook NAME..., NULL-terminated */
};

extern const char stat_usage[];

/*
 * argv[0] is "stat". On error returns -EINVAL and a message in err; 1 when --help was asked
 * for (nothing else parsed), 0 otherwise.
 */
int stat_args_parse(int argc, char **argv, struct stat_args *ret, char *err, size_t errlen);

#endif
