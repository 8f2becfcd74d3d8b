// SPDX-License-Identifier: GPL-2.0-only
/* `dynmem stat`: the observer on its own, printing per-VM counters every interval. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "verbs.h"
#include "cgroupfs.h"
#include "observer.h"
#include "stat_args.h"
#include "stat_format.h"

struct watched {
	char path[4096];
	__u64 id;
	__u32 slot;
};

struct session {
	struct stat_args args;
	struct observer *obs;
	struct watched *vms;
	struct stat_row *rows; /* vms first, then host */
	size_t nr_rows;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN && getenv("DYNMEM_DEBUG") ? vfprintf(stderr, fmt, ap) : 0;
}

static int resolve_cgroup(const char *name, struct watched *w)
{
	char mount[4096] = "?";
	int err = cgroupfs_resolve(CGROUPFS_MOUNTINFO, name, w->path, sizeof(w->path));

	cgroupfs_find_mount(CGROUPFS_MOUNTINFO, mount, sizeof(mount));
	if (err == -EMEDIUMTYPE)
		fprintf(stderr, "dynmem stat: %s is in a cgroup v1 hierarchy; dynmem works on cgroup v2 "
				"only (the cgroup2 mount here is %s)\n", name, mount);
	else if (err == -ENODEV)
		fprintf(stderr, "dynmem stat: no cgroup v2 is mounted; mount one with "
				"'mount -t cgroup2 none /sys/fs/cgroup'\n");
	else if (err == -ENOENT)
		fprintf(stderr, "dynmem stat: no cgroup '%s' under the cgroup2 mount %s; give a path "
				"under it or relative to it (as /proc/PID/cgroup shows)\n", name, mount);
	else if (err)
		fprintf(stderr, "dynmem stat: cgroup '%s': %s\n", name, strerror(-err));
	if (!err) {
		err = cgroupfs_id(w->path, &w->id);
		if (err)
			fprintf(stderr, "dynmem stat: cannot read the id of cgroup %s: %s\n", w->path,
				strerror(-err));
	}
	return err;
}

static int check_host(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "dynmem stat: needs root: it loads BPF programs into the kernel\n");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "dynmem stat: this kernel has no BTF (/sys/kernel/btf/vmlinux): "
				"dynmem needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -ENOENT;
	}
	return 0;
}

static int count_burst(void *ctx, const struct dm_event_burst *ev)
{
	struct session *s = ctx;

	for (size_t r = 0; r < s->nr_rows; r++)
		if ((r < s->args.nr_cgroups ? s->vms[r].slot : DM_SLOT_HOST) == ev->slot)
			s->rows[r].bursts++;
	return 0;
}

/* One line on stderr once attached: scripts wait for it, stdout stays pure frames. */
static void announce(struct session *s)
{
	size_t n, live = 0;
	const struct hook_status *hs = observer_hooks(s->obs, &n);

	for (size_t i = 0; i < n; i++)
		live += hook_state_live(hs[i].state);
	fprintf(stderr, "dynmem stat: watching %zu cgroup(s), %zu of %zu hooks live\n",
		s->args.nr_cgroups, live, n);
}

static int open_observer(struct session *s)
{
	struct observer_opts opts = { .off = s->args.off };

	s->obs = observer_open(&opts);
	if (!s->obs) {
		fprintf(stderr, "dynmem stat: cannot load the observer's BPF programs: %s%s\n",
			strerror(errno),
			errno == EPERM ? " (needs CAP_BPF and CAP_PERFMON; kernel lockdown may forbid it)" :
					 " (DYNMEM_DEBUG=1 shows libbpf's log)");
		return -errno;
	}
	for (size_t i = 0; i < s->args.nr_cgroups; i++) {
		int err = observer_add_vm(s->obs, s->vms[i].id, &s->vms[i].slot);

		if (err) {
			fprintf(stderr, "dynmem stat: cannot watch %s: %s\n", s->vms[i].path,
				strerror(-err));
			return err;
		}
		s->rows[i].cgroup = s->vms[i].path;
		s->rows[i].id = s->vms[i].id;
	}
	s->rows[s->args.nr_cgroups].cgroup = "host";
	announce(s);
	return 0;
}

static int read_rows(struct session *s)
{
	for (size_t r = 0; r < s->nr_rows; r++) {
		__u32 slot = r < s->args.nr_cgroups ? s->vms[r].slot : DM_SLOT_HOST;
		int err;

		s->rows[r].prev = s->rows[r].now;
		err = observer_read(s->obs, slot, &s->rows[r].now);
		if (err) {
			fprintf(stderr, "dynmem stat: cannot read counters of %s: %s\n",
				s->rows[r].cgroup, strerror(-err));
			return err;
		}
	}
	return 0;
}

static int print_frame(struct session *s, __u64 interval_ns)
{
	struct stat_frame f = { .interval_ns = interval_ns,
				.lost_events = observer_lost_events(s->obs),
				.rows = s->rows,
				.nr_rows = s->nr_rows };
	char *line;

	f.hooks = observer_hooks(s->obs, &f.nr_hooks);
	if (s->args.json) {
		line = stat_format_json(&f);
		if (!line)
			return -errno;
		puts(line);
		free(line);
	} else {
		stat_format_text(stdout, &f);
	}
	fflush(stdout);
	for (size_t r = 0; r < s->nr_rows; r++)
		s->rows[r].bursts = 0;
	return 0;
}

/* Waits one interval, draining events as they come, unless a signal stops us. */
static int wait_interval(struct session *s, __u64 until_ns)
{
	while (!stop) {
		__u64 now = now_ns();
		int n;

		if (now >= until_ns)
			break;
		n = observer_poll(s->obs, (int)((until_ns - now + 999999) / 1000000), count_burst, s);
		if (n < 0)
			return n;
	}
	return 0;
}

static int run(struct session *s)
{
	__u64 last = now_ns(), next = last;
	int err = read_rows(s);

	for (unsigned long frame = 0; !err && !stop && (!s->args.count || frame < s->args.count);
	     frame++) {
		__u64 now;

		next += (__u64)s->args.interval_ms * 1000000ULL;
		err = wait_interval(s, next);
		if (err || stop)
			break;
		now = now_ns();
		err = read_rows(s);
		if (!err)
			err = print_frame(s, now - last);
		last = now;
	}
	return err;
}

int cmd_stat(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: wake the poll */
	struct session s = { 0 };
	char msg[256];
	int err;

	err = stat_args_parse(argc, argv, &s.args, msg, sizeof(msg));
	if (err) {
		if (err > 0)
			fputs(stat_usage, stdout);
		else
			fprintf(stderr, "dynmem stat: %s\n%s", msg, stat_usage);
		return err > 0 ? 0 : 2;
	}
	err = check_host();
	if (err)
		return 1;
	s.nr_rows = s.args.nr_cgroups + 1;
	s.vms = calloc(s.args.nr_cgroups, sizeof(*s.vms));
	s.rows = calloc(s.nr_rows, sizeof(*s.rows));
	if (!s.vms || !s.rows) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; !err && i < s.args.nr_cgroups; i++)
		err = resolve_cgroup(s.args.cgroups[i], &s.vms[i]);
	if (err)
		goto out;
	libbpf_set_print(libbpf_quiet);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = open_observer(&s);
	if (!err)
		err = run(&s);
	if (err && s.obs)
		fprintf(stderr, "dynmem stat: stopped: %s\n", strerror(-err));
out:
	observer_close(s.obs);
	free(s.rows);
	free(s.vms);
	return err ? 1 : 0;
}
