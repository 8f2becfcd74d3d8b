/* SPDX-License-Identifier: GPL-2.0-only */
/* The CLI's verbs: each takes its own argv (argv[0] is the verb) and returns the exit code. */
#ifndef DYNMEM_VERBS_H
#define DYNMEM_VERBS_H

int cmd_stat(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_top(int argc, char **argv);

#endif
