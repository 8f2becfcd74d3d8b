/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The limits dynmemd holds on the host right now, on disk: STATE_DIR/limits, one line per
 * cgroup it tightened, saying what it wrote. It is what `dynmemd --relax` undoes after a
 * daemon that could not clean up (SIGKILL, OOM kill, power cut before a reboot keeps
 * cgroups... rarely, but a restart of the unit does): only what dynmem set, never an
 * operator's own limits.
 */
#ifndef DYNMEM_LEDGER_H
#define DYNMEM_LEDGER_H

#include <stdio.h>

struct vm;

/* Rewrites the ledger (temp file + rename) if what the VMs hold changed since last time. */
int ledger_update(const char *state_dir, struct vm *vms);
/* Nothing held any more: remove it. */
void ledger_clear(const char *state_dir);
/* Relaxes every limit the ledger lists, then removes it; problems go to errors. */
int ledger_relax(const char *state_dir, FILE *errors);

#endif
