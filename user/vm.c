// SPDX-License-Identifier: GPL-2.0-only
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "vm.h"

void vm_init(struct vm *vm, const struct config_vm *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->cgroup_fd = -1;
	vm->node = -1;
	vm->numa_node_written = -1;
	vm->psi_some_avg10_pct = -1;
	vm->qmp_watched_fd = -1;
}

void vm_enforcer_result(struct vm *vm, enum enforcer_id id, int rc, __u64 now_ns,
			const char *fmt, ...)
{
	struct enforcer_vm_state *s = &vm->enf[id];
	va_list ap;

	va_start(ap, fmt);
	s->last_rc = rc;
	if (now_ns)
		s->at_ns = now_ns;
	if (rc < 0) {
		vsnprintf(s->error, sizeof(s->error), fmt, ap);
		s->errors++;
	} else {
		vsnprintf(s->action, sizeof(s->action), fmt, ap);
		s->error[0] = '\0';
		s->actions++;
	}
	va_end(ap);
}
