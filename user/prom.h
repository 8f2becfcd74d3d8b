/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The Prometheus textfile: node_exporter's textfile collector reads the .prom files of a
 * directory. Written every tick, atomically (a temp file in the same directory, then
 * rename), mode 0644.
 * docs/metrics.md lists the metrics.
 */
#ifndef DYNMEM_PROM_H
#define DYNMEM_PROM_H

#include <stdio.h>

struct daemon;

/* Every metric with HELP and TYPE lines, in the text exposition format. */
int prom_format(FILE *out, struct daemon *d);
/* 0, or -errno with nothing but a leftover temp file removed. */
int prom_write(const char *path, struct daemon *d);

#endif
