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
#include "ledger.h"

static const char usage[] =
	"usage: dynmemd [--config PATH] [--dry-run] [--foreground] [--debug]\n"
	"       dynmemd [--config PATH] --relax\n"
	"  Gives each VM in the config the memory it needs, within its limits.\n"
	"  --config PATH  the config file (default " CONFIG_DEFAULT_PATH ")\n"
	"  --dry-run      decide and log every decision, change nothing\n"
	"  --foreground   log to stderr with timestamps (default: syslog levels for systemd)\n"
	"  --debug        log debug messages too\n"
	"  --relax        undo every limit a dead dynmemd left (its STATE-DIR/limits ledger)\n"
	"                 and exit: what systemd runs after the daemon stopped (ExecStopPost)\n";

/* For a daemon that could not relax on its way out (SIGKILL, OOM kill): its ledger says what. */
static int relax_only(const char *config_path)
{
	struct config cfg;
	char err[512], state_dir[4096] = CONFIG_DEFAULT_STATE_DIR;
	int rc;

	if (config_load(config_path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "dynmemd: %s; relaxing what %s lists\n", err, state_dir);
	} else {
		snprintf(state_dir, sizeof(state_dir), "%s", cfg.host.state_dir);
		config_free(&cfg);
	}
	rc = ledger_relax(state_dir, stderr);
	return rc ? 1 : 0;
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
