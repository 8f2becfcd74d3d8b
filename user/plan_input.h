/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `dynmem plan` scenarios: a JSON file with a host and its VMs, turned into the allocator's
 * input. docs/allocator.md describes the format.
 */
#ifndef DYNMEM_PLAN_INPUT_H
#define DYNMEM_PLAN_INPUT_H

#include <stddef.h>
#include "alloc.h"

#define PLAN_NAME_MAX 64 /* bytes of a VM name, with the NUL */

struct plan_input {
	struct alloc_host host;
	struct alloc_vm *vms;
	char (*names)[PLAN_NAME_MAX]; /* names[i] is vms[i]'s */
	size_t nr_vms;
};

/*
 * Parses a scenario from len bytes of JSON text. Returns 0, -EINVAL with a message in err
 * that names the key, the VM and what is allowed (`vms[2] "db": weight 12000 is outside
 * 0..10000`), or -ENOMEM. ret is written only on success; free it with plan_input_free().
 */
int plan_input_parse(const char *text, size_t len, struct plan_input *ret, char *err,
		     size_t errlen);

/*
 * Reads and parses the scenario at path ("-": standard input). Returns as
 * plan_input_parse(), or -errno when the file can't be read; syntax errors and read
 * errors name the path.
 */
int plan_input_load(const char *path, struct plan_input *ret, char *err, size_t errlen);

void plan_input_free(struct plan_input *in);

#endif
