/* SPDX-License-Identifier: GPL-2.0-only */
/* One frame of `dynmem stat`: as a text table or as one JSON line. */
#ifndef DYNMEM_STAT_FORMAT_H
#define DYNMEM_STAT_FORMAT_H

#include <stdio.h>
#include "observer.h"
#include "hooks.h"

struct stat_row {
	const char *cgroup; /* resolved path; "host" for everything else */
	__u64 id;	    /* cgroup id; 0 for host */
	struct dm_counters now, prev;
	unsigned long bursts; /* burst events the ring buffer carried this interval */
};

struct stat_frame {
	__u64 interval_ns; /* measured time between prev and now */
	__u64 lost_events;
	const struct stat_row *rows;
	size_t nr_rows;
	const struct hook_status *hooks;
	size_t nr_hooks;
};

/* A malloc'd single-line JSON object without newline, or NULL and errno. */
char *stat_format_json(const struct stat_frame *f);
void stat_format_text(FILE *out, const struct stat_frame *f);

#endif
