// SPDX-License-Identifier: GPL-2.0-only
/*
 * The baseline for the observer's overhead: empty programs on the hooks a user page fault
 * goes through, attached the way the observer attaches them on a single-node host (both
 * raw tracepoints). What dynmem costs beyond this is its own.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/page_fault_user")
int empty_page_fault_user(void *ctx)
{
	return 0;
}

SEC("raw_tp/mm_page_alloc")
int empty_mm_page_alloc(void *ctx)
{
	return 0;
}
