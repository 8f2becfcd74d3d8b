/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `dynmem top`: the daemon's status JSON turned into rows (top_model.c), and rows turned
 * into a frame of text lines for a given width, sort order and selection (top_render.c).
 * Both are pure, so the live view and `--once` print the same frame and tests can check it.
 */
#ifndef DYNMEM_TOP_MODEL_H
#define DYNMEM_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "../bpf/observer.h"

struct top_vm {
	char name[64], state[16], reason[24], problem[256], action[160], node[8];
	__u64 startup, minimum, maximum, assigned, demand;
	unsigned int weight, buffer_pct;
	bool has_availability, distress, observed;
	double availability_pct, pressure_pct;
	__u64 counters[DM_NR_COUNTERS];
	double rates[DM_NR_COUNTERS];
};

struct top_model {
	__u64 total, reserve, budget, assigned, free;
	bool numa_spanning, dry_run;
	char alarm[256], hooks_live[512], hooks_missing[512];
	unsigned int nr_live, nr_missing;
	__u64 lost_events;
	struct top_vm *vms;
	size_t nr_vms;
};

/* Memory status, as Hyper-V Manager shows it; thresholds in docs/top.md. */
enum top_status { TOP_OK, TOP_LOW, TOP_WARNING };
#define TOP_WARNING_AVAILABILITY_PCT (-10.0)

int top_model_parse(const char *json, struct top_model *ret, char *err, size_t errlen);
void top_model_free(struct top_model *m);
enum top_status top_vm_status(const struct top_vm *vm);
const char *top_status_name(enum top_status s);
/* Share of new guest mappings that were 2M or 1G, and of those on a remote node; -1 none. */
double top_large_share(const struct top_vm *vm);
double top_remote_share(const struct top_vm *vm);

/* ---- rendering ---- */

enum top_column {
	TOP_COL_NAME, TOP_COL_STATE, TOP_COL_STARTUP, TOP_COL_MINIMUM, TOP_COL_MAXIMUM,
	TOP_COL_WEIGHT, TOP_COL_BUFFER, TOP_COL_ASSIGNED, TOP_COL_DEMAND, TOP_COL_AVAILABILITY,
	TOP_COL_PRESSURE, TOP_COL_STATUS, TOP_COL_EPT, TOP_COL_HOST_FAULTS, TOP_COL_LARGE,
	TOP_COL_REMOTE, TOP_COL_NODE, TOP_COL_ACTION, TOP_NR_COLUMNS,
};

struct top_view {
	enum top_column sort;
	bool descending;
	int selected;	  /* index into the sorted rows, -1 none */
	bool detail;	  /* show the selected VM's detail pane */
};

enum top_attr { TOP_ATTR_NONE, TOP_ATTR_HEADER, TOP_ATTR_SELECTED };

struct top_line {
	char text[512];
	enum top_attr attr;
	int red_from, red_to; /* a span to draw in red (negative availability), -1 none */
};

struct top_frame {
	struct top_line *lines;
	size_t nr_lines, cap;
	size_t *order; /* rows in display order: indexes into model->vms */
};

/* Renders into f (reset first); width is the terminal's. 0 or -ENOMEM. */
int top_render(const struct top_model *m, const struct top_view *v, int width,
	       struct top_frame *f);
void top_frame_free(struct top_frame *f);
const char *top_column_name(enum top_column c);

#endif
