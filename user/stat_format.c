// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "stat_format.h"
#include "counters.h"

static json_object *row_json(const struct stat_row *r, __u64 interval_ns)
{
	json_object *row = json_object_new_object(), *rates = json_object_new_object();
	double per_s[DM_NR_COUNTERS];

	counters_rates(&r->prev, &r->now, interval_ns, per_s);
	json_object_object_add(row, "cgroup", json_object_new_string(r->cgroup));
	json_object_object_add(row, "id", json_object_new_uint64(r->id));
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		json_object_object_add(row, counter_names[i], json_object_new_uint64(r->now.c[i]));
		json_object_object_add(rates, counter_names[i], json_object_new_double(per_s[i]));
	}
	json_object_object_add(row, "rates", rates);
	json_object_object_add(row, "bursts", json_object_new_uint64(r->bursts));
	return row;
}

char *stat_format_json(const struct stat_frame *f)
{
	json_object *frame = json_object_new_object(), *rows = json_object_new_array();
	json_object *hooks_obj = json_object_new_object();
	char *line;

	json_object_object_add(frame, "interval_ns", json_object_new_uint64(f->interval_ns));
	json_object_object_add(frame, "lost_events", json_object_new_uint64(f->lost_events));
	for (size_t i = 0; i < f->nr_hooks; i++)
		json_object_object_add(hooks_obj, f->hooks[i].hook->name,
				       json_object_new_string(hook_state_name(f->hooks[i].state)));
	json_object_object_add(frame, "hooks", hooks_obj);
	for (size_t i = 0; i < f->nr_rows; i++)
		json_object_array_add(rows, row_json(&f->rows[i], f->interval_ns));
	json_object_object_add(frame, "cgroups", rows);
	line = strdup(json_object_to_json_string_ext(frame, JSON_C_TO_STRING_PLAIN));
	json_object_put(frame);
	if (!line)
		errno = ENOMEM;
	return line;
}

/* 1234567 -> "1.23M": columns stay narrow while totals grow. */
static const char *human(char *buf, size_t len, double v)
{
	static const char suffix[] = " kMGTPE";
	int i = 0;

	/* Past 5 digits, scale to under 1000 so that "%.2f" stays at most "999.99k". */
	if (v >= 99999.5) {
		while (v >= 999.995 && i < 6) {
			v /= 1000;
			i++;
		}
	}
	if (i)
		snprintf(buf, len, "%.2f%c", v, suffix[i]);
	else if (v == (double)(__u64)v)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f", v);
	return buf;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

static void print_hooks(FILE *out, const struct stat_frame *f)
{
	fputs("hooks:", out);
	for (size_t i = 0; i < f->nr_hooks; i++)
		fprintf(out, " %s=%s", f->hooks[i].hook->name, hook_state_name(f->hooks[i].state));
	fputc('\n', out);
}

void stat_format_text(FILE *out, const struct stat_frame *f)
{
	double (*per_s)[DM_NR_COUNTERS] = calloc(f->nr_rows ?: 1, sizeof(*per_s));
	char a[32], b[32];

	if (!per_s)
		return;
	fprintf(out, "interval %.3f s, lost events %llu\n", (double)f->interval_ns / 1e9,
		(unsigned long long)f->lost_events);
	print_hooks(out, f);
	fprintf(out, "%-16s", "counter");
	for (size_t r = 0; r < f->nr_rows; r++) {
		fprintf(out, " %24.24s", basename_of(f->rows[r].cgroup));
		counters_rates(&f->rows[r].prev, &f->rows[r].now, f->interval_ns, per_s[r]);
	}
	fputc('\n', out);
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		fprintf(out, "%-16s", counter_names[i]);
		for (size_t r = 0; r < f->nr_rows; r++)
			fprintf(out, " %11s (%8s/s)", human(a, sizeof(a), (double)f->rows[r].now.c[i]),
				human(b, sizeof(b), per_s[r][i]));
		fputc('\n', out);
	}
	fprintf(out, "%-16s", "bursts");
	for (size_t r = 0; r < f->nr_rows; r++)
		fprintf(out, " %24lu", f->rows[r].bursts);
	fputs("\n\n", out);
	free(per_s);
}
