// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-balloon over QMP: `balloon` with the guest's target size. QEMU inflates or
 * deflates the guest's balloon towards it and reports the result with BALLOON_CHANGE,
 * which the daemon reads as the VM's assigned memory.
 *
 * On reset the balloon is asked to stay where it is now (the assigned-at-exit size), which
 * stops a shrink in flight. It is not deflated to the maximum: if several VMs had been
 * squeezed, giving all of them everything back at once could push the host past its
 * reserve, the one thing dynmem must never do. Nothing tightens either way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "loop.h"
#include "qmp.h"
#include "size.h"
#include "vm.h"

#define BALLOON_TIMEOUT_NS (2ULL * 1000000000ULL)
/* Smaller moves are not worth a guest's time: QEMU works in 4K pages, guests in more. */
#define BALLOON_MIN_MOVE_BYTES (1ULL << 20)

static int balloon_probe(struct enforcer *e, char *why, size_t len)
{
	(void)e;
	(void)why;
	(void)len;
	return 0; /* QMP needs nothing of the host; each VM's socket is checked on attach */
}

static int balloon_attach(struct enforcer *e, struct vm *vm)
{
	(void)e;
	return vm->qmp ? 0 : -ENOTCONN;
}

static void on_balloon_reply(struct qmp *q, const struct qmp_reply *r, void *ctx)
{
	struct vm *vm = ctx;

	(void)q;
	if (r->err)
		vm_enforcer_result(vm, ENFORCER_BALLOON, r->err, loop_now_ns(), "balloon on %s: %s",
				   vm->cfg.qmp, r->error_desc);
}

static int request(struct vm *vm, __u64 bytes)
{
	char a[32];
	int err = qmp_balloon(vm->qmp, bytes, on_balloon_reply, vm, BALLOON_TIMEOUT_NS,
			      loop_now_ns());

	if (err) {
		vm_enforcer_result(vm, ENFORCER_BALLOON, err, loop_now_ns(), "balloon on %s: %s",
				   vm->cfg.qmp,
				   err == -ENOTCONN ? qmp_last_error(vm->qmp) : strerror(-err));
		return err;
	}
	vm->balloon_requested_bytes = bytes;
	vm_enforcer_result(vm, ENFORCER_BALLOON, 1, loop_now_ns(), "balloon %s",
			   size_format(a, sizeof(a), bytes));
	return 1;
}

static int balloon_apply(struct enforcer *e, struct vm *vm, const struct target *t)
{
	__u64 last = vm->balloon_requested_bytes;

	(void)e;
	if (!vm->qmp_ready) {
		vm_enforcer_result(vm, ENFORCER_BALLOON, -ENOTCONN, loop_now_ns(),
				   "QMP %s not connected: %s", vm->cfg.qmp,
				   qmp_last_error(vm->qmp)[0] ? qmp_last_error(vm->qmp)
							      : "connecting");
		return -ENOTCONN;
	}
	if (last && (t->guest_bytes > last ? t->guest_bytes - last : last - t->guest_bytes) <
			    BALLOON_MIN_MOVE_BYTES)
		return 0;
	return request(vm, t->guest_bytes);
}

static int balloon_reset(struct enforcer *e, struct vm *vm)
{
	(void)e;
	if (!vm->qmp_ready || !vm->balloon_actual_bytes || !vm->balloon_requested_bytes)
		return 0;
	return request(vm, vm->balloon_actual_bytes) < 0 ? -EIO : 0;
}

static void balloon_detach(struct enforcer *e, struct vm *vm)
{
	(void)e;
	vm->balloon_requested_bytes = 0;
}

const struct enforcer_ops balloon_enforcer_ops = {
	.name = "balloon",
	.probe = balloon_probe,
	.attach = balloon_attach,
	.apply = balloon_apply,
	.reset = balloon_reset,
	.detach = balloon_detach,
};
