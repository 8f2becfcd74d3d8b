/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What `dynmem set` changed at run time, kept across restarts: STATE_DIR/NAME.set holds
 * "key = value" lines, the keys set so far. They are applied over the config file on
 * start and on every reload, validated exactly like the file; deleting the file (and a
 * reload) goes back to the config.
 */
#ifndef DYNMEM_OVERRIDES_H
#define DYNMEM_OVERRIDES_H

#include <stddef.h>
#include "config.h"

/* Keys `dynmem set` may change while a VM runs, and how (see overrides_check()). */
extern const char *const overrides_keys[];

/*
 * Hyper-V's rule for a running VM: minimum may go down, maximum up; buffer, weight and numa
 * may change; anything else is refused. 0 or -EPERM/-EINVAL with the reason in err.
 */
int overrides_check(const struct config_vm *now, const struct config_vm *wanted, const char *key,
		    char *err, size_t errlen);

/* Adds key = value to STATE_DIR/NAME.set (atomically: temp file, rename). */
int overrides_save(const char *state_dir, const char *vm, const char *key, const char *value);

/* Applies every VM's saved overrides to cfg; a file that no longer validates is reported
 * in err (FILE:LINE) and skipped whole, the others still apply. Returns 0 or the first error. */
int overrides_apply(const char *state_dir, struct config *cfg, char *err, size_t errlen);

#endif
