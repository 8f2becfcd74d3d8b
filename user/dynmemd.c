// SPDX-License-Identifier: GPL-2.0-only
/* dynmemd: the daemon. See dynmemd --help and docs/daemon.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cgroupfs.h"
#include "config.h"
#include "daemon.h"

static const char usage[] =
	"usage: dynmemd [--config PATH] [--dry-run] [--foreground] [--debug]\n"
	"       dynmemd [--config PATH] --relax\n"
	"  Gives each VM in the config the memory it needs, within its limits.\n"
	"  --config PATH  the config file (default " CONFIG_DEFAULT_PATH ")\n"
	"  --dry-run      decide and log every decision, change nothing\n"
	"  --foreground   log to stderr with timestamps (default: syslog levels for systemd)\n"
	"  --debug        log debug messages too\n"
	"  --relax        set memory.high back to max and memory.min to 0 for every VM in the\n"
	"                 config and exit: what systemd runs after the daemon died (ExecStopPost)\n";

/* For a daemon that could not relax on its way out (SIGKILL, OOM kill). */
static int relax_only(const char *config_path)
{
	struct config cfg;
	char err[512], path[4096];
	int failed = 0;

	if (config_load(config_path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "dynmemd: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < cfg.nr_vms; i++) {
		const char *cgroup = cfg.vms[i].cgroup[0] ? cfg.vms[i].cgroup : NULL;
		char adopted[200];
		int fd, rc;

		if (!cgroup) {
			snprintf(adopted, sizeof(adopted), "dynmem.slice/%s.scope", cfg.vms[i].name);
			cgroup = adopted;
		}
		if (cgroupfs_resolve(CGROUPFS_MOUNTINFO, cgroup, path, sizeof(path)))
			continue; /* not running: nothing to relax */
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? -errno : cgroupfs_write_u64(fd, "memory.high", CGROUPFS_MAX, 0);
		if (!rc)
			rc = cgroupfs_write_u64(fd, "memory.min", 0, 0);
		if (rc && rc != -ENOENT) {
			fprintf(stderr, "dynmemd: cannot relax %s: %s\n", path, strerror(-rc));
			failed = 1;
		}
		if (fd >= 0)
			close(fd);
	}
	config_free(&cfg);
	return failed;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "dry-run", no_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'f' },   { "debug", no_argument, NULL, 'd' },
		{ "relax", no_argument, NULL, 'r' },	    { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon_opts opts = { .config_path = CONFIG_DEFAULT_PATH };
	struct daemon d;
	bool relax = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:nfdrh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opts.config_path = optarg; break;
		case 'n': opts.dry_run = true; break;
		case 'f': opts.foreground = true; break;
		case 'd': opts.debug = true; break;
		case 'r': relax = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dynmemd: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "dynmemd: needs root: it loads BPF programs and sets cgroup limits\n");
		return 1;
	}
	if (relax)
		return relax_only(opts.config_path);
	rc = daemon_open(&d, &opts);
	if (!rc)
		rc = daemon_run(&d);
	daemon_close(&d);
	return rc ? 1 : 0;
}
