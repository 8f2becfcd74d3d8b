// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "counters.h"
#include "size.h"
#include "top_model.h"

/*
 * The columns: Hyper-V Manager's first, then what only dynmem sees. A narrow terminal
 * drops the columns of the highest drop rank first; rank 0 stays.
 */
struct column {
	const char *title;
	int width, drop_rank;
	bool left; /* left-aligned text */
};

static const struct column columns[TOP_NR_COLUMNS] = {
	[TOP_COL_NAME] = { "NAME", 12, 0, true },
	[TOP_COL_STATE] = { "STATE", 8, 2, true },
	[TOP_COL_STARTUP] = { "STARTUP", 7, 3, false },
	[TOP_COL_MINIMUM] = { "MIN", 6, 2, false },
	[TOP_COL_MAXIMUM] = { "MAX", 6, 2, false },
	[TOP_COL_WEIGHT] = { "WEIGHT", 6, 3, false },
	[TOP_COL_BUFFER] = { "BUF", 5, 3, false },
	[TOP_COL_ASSIGNED] = { "ASSIGNED", 8, 0, false },
	[TOP_COL_DEMAND] = { "DEMAND", 7, 0, false },
	[TOP_COL_AVAILABILITY] = { "AVAIL", 6, 0, false },
	[TOP_COL_PRESSURE] = { "PRESS", 5, 1, false },
	[TOP_COL_STATUS] = { "STATUS", 7, 0, true },
	[TOP_COL_EPT] = { "EPT/s", 6, 4, false },
	[TOP_COL_HOST_FAULTS] = { "HFLT/s", 6, 4, false },
	[TOP_COL_LARGE] = { "LARGE", 5, 5, false },
	[TOP_COL_REMOTE] = { "REMOTE", 6, 5, false },
	[TOP_COL_NODE] = { "NODE", 4, 5, false },
	[TOP_COL_ACTION] = { "LAST ACTION", 16, 1, true },
};

const char *top_column_name(enum top_column c)
{
	return columns[c].title;
}

static int add_line(struct top_frame *f, enum top_attr attr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int add_line(struct top_frame *f, enum top_attr attr, const char *fmt, ...)
{
	struct top_line *l;
	va_list ap;

	if (f->nr_lines == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct top_line *grown = realloc(f->lines, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		f->lines = grown;
		f->cap = cap;
	}
	l = &f->lines[f->nr_lines++];
	l->attr = attr;
	l->red_from = l->red_to = -1;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	return 0;
}

static const char *rate(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.0fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

static const char *share(char *buf, size_t len, double v)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f%%", v * 100);
	return buf;
}

static void cell(const struct top_vm *vm, enum top_column c, char *buf, size_t len)
{
	switch (c) {
	case TOP_COL_NAME: snprintf(buf, len, "%s", vm->name); break;
	case TOP_COL_STATE: snprintf(buf, len, "%s", vm->state); break;
	case TOP_COL_STARTUP: size_format(buf, len, vm->startup); break;
	case TOP_COL_MINIMUM: size_format(buf, len, vm->minimum); break;
	case TOP_COL_MAXIMUM: size_format(buf, len, vm->maximum); break;
	case TOP_COL_WEIGHT: snprintf(buf, len, "%u", vm->weight); break;
	case TOP_COL_BUFFER: snprintf(buf, len, "%u%%", vm->buffer_pct); break;
	case TOP_COL_ASSIGNED: size_format(buf, len, vm->assigned); break;
	case TOP_COL_DEMAND: size_format(buf, len, vm->demand); break;
	case TOP_COL_AVAILABILITY:
		if (vm->has_availability)
			snprintf(buf, len, "%+.0f%%", vm->availability_pct);
		else
			snprintf(buf, len, "-");
		break;
	case TOP_COL_PRESSURE: snprintf(buf, len, "%.0f%%", vm->pressure_pct); break;
	case TOP_COL_STATUS: snprintf(buf, len, "%s", top_status_name(top_vm_status(vm))); break;
	case TOP_COL_EPT: rate(buf, len, vm->rates[DM_EPT_FAULTS]); break;
	case TOP_COL_HOST_FAULTS: rate(buf, len, vm->rates[DM_HOST_FAULTS]); break;
	case TOP_COL_LARGE: share(buf, len, top_large_share(vm)); break;
	case TOP_COL_REMOTE: share(buf, len, top_remote_share(vm)); break;
	case TOP_COL_NODE: snprintf(buf, len, "%s", vm->node); break;
	case TOP_COL_ACTION: snprintf(buf, len, "%s", vm->problem[0] ? vm->problem : vm->action); break;
	case TOP_NR_COLUMNS: buf[0] = '\0'; break;
	}
}

static double key(const struct top_vm *vm, enum top_column c)
{
	switch (c) {
	case TOP_COL_STARTUP: return (double)vm->startup;
	case TOP_COL_MINIMUM: return (double)vm->minimum;
	case TOP_COL_MAXIMUM: return (double)vm->maximum;
	case TOP_COL_WEIGHT: return vm->weight;
	case TOP_COL_BUFFER: return vm->buffer_pct;
	case TOP_COL_ASSIGNED: return (double)vm->assigned;
	case TOP_COL_DEMAND: return (double)vm->demand;
	case TOP_COL_AVAILABILITY: return vm->has_availability ? vm->availability_pct : 0;
	case TOP_COL_PRESSURE: return vm->pressure_pct;
	case TOP_COL_STATUS: return top_vm_status(vm);
	case TOP_COL_EPT: return vm->rates[DM_EPT_FAULTS];
	case TOP_COL_HOST_FAULTS: return vm->rates[DM_HOST_FAULTS];
	case TOP_COL_LARGE: return top_large_share(vm);
	case TOP_COL_REMOTE: return top_remote_share(vm);
	default: return 0;
	}
}

static const struct top_model *sort_model;
static const struct top_view *sort_view;

static int by_column(const void *a, const void *b)
{
	const struct top_vm *x = &sort_model->vms[*(const size_t *)a];
	const struct top_vm *y = &sort_model->vms[*(const size_t *)b];
	enum top_column c = sort_view->sort;
	int r;

	if (c == TOP_COL_NAME || c == TOP_COL_STATE || c == TOP_COL_NODE || c == TOP_COL_ACTION) {
		char p[256], q[256];

		cell(x, c, p, sizeof(p));
		cell(y, c, q, sizeof(q));
		r = strcmp(p, q);
	} else {
		r = key(x, c) < key(y, c) ? -1 : key(x, c) > key(y, c);
	}
	if (!r)
		r = strcmp(x->name, y->name); /* a stable order between refreshes */
	return sort_view->descending ? -r : r;
}

/* Which columns fit: drop the highest ranks until the row fits the terminal. */
static void visible_columns(int width, bool shown[TOP_NR_COLUMNS])
{
	for (int rank = 5; rank >= 0; rank--) {
		int total = 0;

		for (int c = 0; c < TOP_NR_COLUMNS; c++) {
			shown[c] = columns[c].drop_rank <= rank;
			total += shown[c] ? columns[c].width + 1 : 0;
		}
		if (total <= width || rank == 0)
			return;
	}
}

static int row(struct top_frame *f, const struct top_vm *vm, const bool shown[], int width,
	       bool selected)
{
	char text[512] = "", buf[256];
	int len = 0, red_from = -1, red_to = -1, err;

	for (int c = 0; c < TOP_NR_COLUMNS; c++) {
		int w = columns[c].width;

		if (!shown[c])
			continue;
		/* The last column takes what is left, less the space every cell is followed by. */
		if (c == TOP_COL_ACTION)
			w = width - len - 1 > w ? width - len - 1 : w;
		cell(vm, (enum top_column)c, buf, sizeof(buf));
		if (c == TOP_COL_AVAILABILITY && vm->has_availability && vm->availability_pct < 0) {
			red_from = len;
			red_to = len + w;
		}
		len += snprintf(text + len, sizeof(text) - (size_t)len, columns[c].left ? "%-*.*s " :
											  "%*.*s ",
				w, w, buf);
		if (len >= (int)sizeof(text) - 1)
			break;
	}
	err = add_line(f, selected ? TOP_ATTR_SELECTED : TOP_ATTR_NONE, "%s", text);
	if (!err) {
		f->lines[f->nr_lines - 1].red_from = red_from;
		f->lines[f->nr_lines - 1].red_to = red_to;
	}
	return err;
}

static int header_lines(const struct top_model *m, struct top_frame *f)
{
	char t[32], r[32], b[32], a[32], fr[32];

	return add_line(f, TOP_ATTR_NONE,
			"dynmem top   host %s  reserve %s  budget %s  assigned %s  free %s  "
			"NUMA spanning %s%s",
			size_format(t, sizeof(t), m->total), size_format(r, sizeof(r), m->reserve),
			size_format(b, sizeof(b), m->budget), size_format(a, sizeof(a), m->assigned),
			size_format(fr, sizeof(fr), m->free), m->numa_spanning ? "on" : "off",
			m->dry_run ? "  [dry run]" : "") ?:
	       add_line(f, TOP_ATTR_NONE, "observer: %u hooks live, %u missing%s%s%s, lost events %llu%s%s",
			m->nr_live, m->nr_missing, m->nr_missing ? " (" : "", m->hooks_missing,
			m->nr_missing ? ")" : "", (unsigned long long)m->lost_events,
			m->alarm[0] ? "   ALARM: " : "", m->alarm) ?:
	       add_line(f, TOP_ATTR_NONE, "%s", "");
}

static int detail_lines(const struct top_vm *vm, struct top_frame *f)
{
	char a[32], b[32];
	int err;

	err = add_line(f, TOP_ATTR_NONE, "%s", "") ?:
	      add_line(f, TOP_ATTR_HEADER, "-- %s: %s, reason %s, status %s --", vm->name, vm->state,
		       vm->reason, top_status_name(top_vm_status(vm))) ?:
	      add_line(f, TOP_ATTR_NONE, "problem: %s", vm->problem[0] ? vm->problem : "none") ?:
	      add_line(f, TOP_ATTR_NONE, "last action: %s", vm->action[0] ? vm->action : "none");
	if (err || !vm->observed)
		return err ?: add_line(f, TOP_ATTR_NONE, "observer: not watching this VM");
	for (int i = 0; !err && i < DM_NR_COUNTERS; i += 2) {
		char left[80];

		snprintf(left, sizeof(left), "%-15s %12llu %10s/s", counter_names[i],
			 (unsigned long long)vm->counters[i], rate(a, sizeof(a), vm->rates[i]));
		if (i + 1 < DM_NR_COUNTERS)
			err = add_line(f, TOP_ATTR_NONE, "%s    %-15s %12llu %10s/s", left,
				       counter_names[i + 1], (unsigned long long)vm->counters[i + 1],
				       rate(b, sizeof(b), vm->rates[i + 1]));
		else
			err = add_line(f, TOP_ATTR_NONE, "%s", left);
	}
	return err;
}

int top_render(const struct top_model *m, const struct top_view *v, int width,
	       struct top_frame *f)
{
	bool shown[TOP_NR_COLUMNS];
	char title[512] = "";
	int len = 0, err;

	f->nr_lines = 0;
	free(f->order);
	f->order = calloc(m->nr_vms ?: 1, sizeof(*f->order));
	if (!f->order)
		return -ENOMEM;
	for (size_t i = 0; i < m->nr_vms; i++)
		f->order[i] = i;
	sort_model = m;
	sort_view = v;
	qsort(f->order, m->nr_vms, sizeof(*f->order), by_column);

	visible_columns(width, shown);
	for (int c = 0; c < TOP_NR_COLUMNS; c++)
		if (shown[c] && len < (int)sizeof(title) - 32)
			len += snprintf(title + len, sizeof(title) - (size_t)len,
					columns[c].left ? "%-*s%s" : "%*s%s", columns[c].width,
					columns[c].title, c == (int)v->sort ? (v->descending ? "v" : "^") :
									   " ");
	err = header_lines(m, f) ?: add_line(f, TOP_ATTR_HEADER, "%s", title);
	for (size_t i = 0; !err && i < m->nr_vms; i++)
		err = row(f, &m->vms[f->order[i]], shown, width, (int)i == v->selected);
	if (!err && v->detail && v->selected >= 0 && (size_t)v->selected < m->nr_vms)
		err = detail_lines(&m->vms[f->order[v->selected]], f);
	if (!err)
		err = add_line(f, TOP_ATTR_NONE, "%s", "") ?:
		      add_line(f, TOP_ATTR_NONE,
			       "keys: up/down select  enter detail  s sort (%s)  r reverse  q quit",
			       columns[v->sort].title);
	return err;
}

void top_frame_free(struct top_frame *f)
{
	free(f->lines);
	free(f->order);
	memset(f, 0, sizeof(*f));
}
