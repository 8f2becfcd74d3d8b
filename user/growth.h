/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The allocator's targets fit the budget, but a shrinking VM gives memory back only as fast
 * as its balloon inflates. Until then, growth is held to what is really free: the budget less
 * what every VM holds or was promised (the larger of its size and its last target). A VM
 * below its minimum gets back to it first; the rest of the growth is cut pro rata, and
 * resumes tick by tick as memory comes back. With spanning off each node is its own pool:
 * memory coming back on one node does not feed growth on another.
 *
 * Pure: in[i] as given to alloc_plan(), has_bytes[i] what VM i holds now (its balloon's
 * size), out[i] alloc_plan()'s target, lowered here where growth must wait.
 */
#ifndef DYNMEM_GROWTH_H
#define DYNMEM_GROWTH_H

#include <stddef.h>
#include "alloc.h"

void growth_limit_to_free(const struct alloc_host *h, const struct alloc_vm *in,
			  const __u64 *has_bytes, struct alloc_target *out, size_t n);

#endif
