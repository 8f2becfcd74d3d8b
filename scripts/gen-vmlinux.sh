#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Regenerate the pinned bpf/vmlinux/vmlinux.h from this kernel's BTF.
# The header is pinned on purpose: CO-RE relocates field accesses at load time, so one
# header built here works on other kernels, and builds don't depend on the build host's BTF.
# Run it by hand when dynmem starts using a type the pinned header lacks, and commit the result.
set -euo pipefail

btf=${1:-/sys/kernel/btf/vmlinux}
out=$(dirname "$0")/../bpf/vmlinux/vmlinux.h
bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)

[[ -r $btf ]] || { echo "gen-vmlinux: no BTF at $btf (kernel needs CONFIG_DEBUG_INFO_BTF=y)" >&2; exit 1; }
"$bpftool" btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "gen-vmlinux: wrote $out from $btf ($(uname -r))"
