/* SPDX-License-Identifier: GPL-2.0-only */
/* Memory sizes as operators write them: 512M, 4G, 1.5G, 1073741824. */
#ifndef DYNMEM_SIZE_H
#define DYNMEM_SIZE_H

#include <stddef.h>
#include <linux/types.h>

/*
 * Parses a size with an optional K/M/G/T suffix (powers of 1024, case-insensitive, an
 * optional trailing B or iB: 4G, 4GiB, 4gb). Plain numbers are bytes. A fraction is allowed
 * with a suffix (1.5G). Returns 0, or -EINVAL (not a size) / -ERANGE (above 2^64-1).
 */
int size_parse(const char *s, __u64 *ret_bytes);

/* 1610612736 -> "1.5G"; exact multiples print without a fraction ("4G"). */
const char *size_format(char *buf, size_t len, __u64 bytes);

#endif
