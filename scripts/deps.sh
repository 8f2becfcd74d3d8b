#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Installs the Debian packages dynmem's build, tests, benchmarks and demo need, by name,
# and only those that are missing: safe to run twice, quiet when there is nothing to do.
set -euo pipefail

packages=(
	# build
	make gcc clang libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
	libjson-c-dev libinih-dev libnuma-dev libncurses-dev
	# tests and benchmarks
	libcmocka-dev bpftrace python3 prometheus tmux
	# the lab: a KVM host inside QEMU, with Debian's kernel
	qemu-system-x86 cpio busybox-static xz-utils
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
