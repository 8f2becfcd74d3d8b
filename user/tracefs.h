/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef DYNMEM_TRACEFS_H
#define DYNMEM_TRACEFS_H

/*
 * Classic tracepoints are attached by the id libbpf reads from tracefs. Many hosts leave
 * tracefs unmounted until something asks for it, as systemd or bpftrace would: mount it at
 * /sys/kernel/tracing when neither usual place has it. 0 when available, else -errno.
 */
int tracefs_ensure(void);

#endif
