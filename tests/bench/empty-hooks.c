// SPDX-License-Identifier: GPL-2.0-only
/* Attaches the empty baseline programs, says "attached" and holds them until a signal. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "../../user/tracefs.h"
#include "empty_hooks.skel.h"

int main(void)
{
	struct empty_hooks_bpf *skel;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	skel = empty_hooks_bpf__open_and_load();
	if (!skel || tracefs_ensure() || empty_hooks_bpf__attach(skel)) {
		fprintf(stderr, "empty-hooks: cannot load or attach the baseline programs\n");
		empty_hooks_bpf__destroy(skel);
		return 1;
	}
	puts("attached");
	fflush(stdout);
	sigwait(&set, &sig);
	empty_hooks_bpf__destroy(skel);
	return 0;
}
