#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The lab: a whole KVM host in a VM, for the tests and the demo that need what this machine
# lacks (KVM that boots Linux guests, cgroup v2 memory and cpuset, two NUMA nodes).
#
#   scripts/lab.sh prepare        fetch the Debian kernel, build the initramfs images (cached)
#   scripts/lab.sh run CMD...     boot the lab, run CMD as root in this repo, exit with its status
#   scripts/lab.sh shell          boot the lab with an interactive shell on the terminal
#
# The lab VM is QEMU with TCG and nested SVM (-cpu max) running Debian's kernel; the host's
# root is shared read-only over 9p, so the project's build and QEMU itself run inside.
# scripts/lab/outer-init.sh is its /init. Environment:
#   DYNMEM_LAB_CACHE    cache folder (default: REPO/.lab)
#   DYNMEM_LAB_TIMEOUT  seconds before a run is killed (default 900)
#   DYNMEM_LAB_NODE_MB  memory of each of the two NUMA nodes in MiB (default 1536)
#   DYNMEM_LAB_APPEND   more kernel arguments for the lab VM (e.g. loglevel=7; MODULE.PARAM=VALUE
#                       reaches the module, as kvm_amd.vgif=0)
#   DYNMEM_LAB_ACCEL    QEMU's -accel for the lab VM (default tcg; tcg,thread=single runs
#                       both of its vCPUs on one host thread, to tell TCG's races apart)
# Every DYNMEM_* variable is passed on to CMD. Exit status: CMD's; 124 on timeout; 125 when
# the lab stopped before CMD ended; 75 when the lab failed twice: a run is tried once more
# when the lab's kernel crashes or hangs, QEMU dies of a signal, the lab's machine is reset
# with no word from its kernel, or CMD itself exits 75 (the lab failed under it: a guest reset
# by the emulation); TCG emulating nested SVM is not always stable. A failed run keeps its
# directory under CACHE/runs (console.log: the lab's kernel and init; while it runs,
# monitor.sock is QEMU's monitor, for a lab that hangs).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CACHE=$(realpath -m "${DYNMEM_LAB_CACHE:-$REPO/.lab}")
TIMEOUT=${DYNMEM_LAB_TIMEOUT:-900}
NODE_MB=${DYNMEM_LAB_NODE_MB:-1536}
APPEND=${DYNMEM_LAB_APPEND:-}
ACCEL=${DYNMEM_LAB_ACCEL:-tcg}
BUSYBOX=/bin/busybox
LAB_FAILED=75 # the exit status when the lab failed, not the command: worth a retry

# insmod order for busybox (no modprobe, no depmod); check_load_order verifies it.
OUTER_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_balloon netfs fscache 9pnet 9pnet_virtio 9p irqbypass kvm ccp kvm-amd)
GUEST_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_balloon netfs fscache 9pnet 9pnet_virtio 9p)

QEMU_PID=
QEMU_RC=0 # QEMU's own exit status, once it ended
CAT_PIDS=()
RUN_DIR=
TMP_PATHS=() # removed on exit, whatever happens

say() { echo "lab: $*" >&2; }
die() {
	say "$*"
	exit 1
}

usage() {
	sed -n '7,9s/^# \{0,3\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# The lab mounts a tmpfs over /tmp and keeps only the repository visible there (a clone in
# /tmp, as CI may make, works): a cache elsewhere under /tmp would be hidden.
check_paths() {
	local p
	for p in "$REPO" "$CACHE"; do
		[[ $p != *[[:space:]]* ]] || die "'$p' has whitespace, which kernel arguments can't"
	done
	[[ $CACHE != /tmp && $CACHE != /tmp/* || $CACHE == "$REPO"/* ]] ||
		die "$CACHE is under /tmp, which the lab hides: put DYNMEM_LAB_CACHE elsewhere"
	command -v qemu-system-x86_64 >/dev/null ||
		die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
	if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
		die "$BUSYBOX is missing or not static: apt-get install busybox-static"
	fi
}

# --- kernel: Debian's linux-image-amd64, keyed by the package version ----------------------

# The version apt would install now, from the local package lists (no network).
kernel_candidate() {
	apt-cache policy linux-image-amd64 2>/dev/null |
		awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# Download PKG into the current directory; apt's chatter goes to a log shown on failure.
apt_download() {
	apt-get download "$1" >"$CACHE/apt.log" 2>&1 ||
		die "apt-get download $1 failed (see $CACHE/apt.log; apt-get update may help)"
}

fetch_kernel() {
	local want have meta real tmp
	want=$(kernel_candidate)
	have=$(cat "$CACHE/kernel/.version" 2>/dev/null || true)
	if [[ -z $want ]]; then
		[[ -n $have ]] ||
			die "no linux-image-amd64 in apt's package lists: run apt-get update"
		say "apt knows no linux-image-amd64; using the cached kernel $have"
		return
	fi
	[[ $want != "$have" ]] || return 0
	say "fetching the Debian kernel (linux-image-amd64 $want)"
	tmp=$(mktemp -d "$CACHE/fetch.XXXXXX")
	TMP_PATHS+=("$tmp")
	cd "$tmp"
	apt_download "linux-image-amd64=$want"
	meta=$(echo linux-image-amd64_*.deb)
	# The metapackage names the real image: "linux-image-6.1.0-NN-amd64 (= VERSION)".
	real=$(dpkg-deb -f "$meta" Depends | grep -o 'linux-image-[0-9][^ ,]*' | head -n1 || true)
	[[ -n $real ]] || die "$meta depends on no linux-image-* package"
	apt_download "$real"
	dpkg -x "$real"_*.deb unpacked
	[[ -f $(echo unpacked/boot/vmlinuz-*) ]] || die "$real has no boot/vmlinuz-*"
	extract_vmlinux unpacked/boot/vmlinuz-* unpacked/vmlinux ||
		say "cannot extract vmlinux from $real; booting the compressed kernel (slower)"
	echo "$want" >unpacked/.version
	cd - >/dev/null
	rm -rf "$CACHE/kernel"
	mv "$tmp/unpacked" "$CACHE/kernel"
}

# QEMU boots an uncompressed vmlinux through its PVH entry point: that skips decompressing the
# xz bzImage under TCG, about 6 s of every lab boot. Finds the payload like the kernel's
# scripts/extract-vmlinux: try each compressor's magic, keep what decompresses to ELF.
extract_vmlinux() {
	local img=$1 out=$2 magic cmd off
	while read -r magic cmd; do
		for off in $(LC_ALL=C grep -aboF "$(printf '%b' "$magic")" "$img" | cut -d: -f1 |
			head -n3); do
			tail -c +$((off + 1)) "$img" | $cmd >"$out" 2>/dev/null || true
			[[ $(head -c4 "$out") == $'\x7fELF' ]] && return 0
		done
	done <<-'EOF'
		\xfd7zXZ xz -dc
		\x28\xb5\x2f\xfd zstd -dc
		\x1f\x8b\x08 gzip -dc
	EOF
	rm -f "$out"
	return 1
}

kernel_bzimage() {
	local img
	img=$(echo "$CACHE"/kernel/boot/vmlinuz-*)
	[[ -f $img ]] || die "no kernel in $CACHE/kernel: run scripts/lab.sh prepare"
	echo "$img"
}

# What QEMU boots, in the lab and inside it.
kernel_image() {
	if [[ -f $CACHE/kernel/vmlinux ]]; then
		echo "$CACHE/kernel/vmlinux"
	else
		kernel_bzimage
	fi
}

modules_dir() {
	echo "$CACHE/kernel/lib/modules/$(basename "$(kernel_bzimage)" | sed 's/^vmlinuz-//')"
}

# --- initramfs images, keyed by a hash of what goes in ------------------------------------

module_file() {
	local f
	f=$(find "$(modules_dir)/kernel" \( -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" \
		-o -name "$1.ko.gz" \) -print -quit)
	[[ -n $f ]] || die "module $1 not found in $(modules_dir)"
	echo "$f"
}

# Copy a module uncompressed: busybox insmod loads plain ELF files only.
copy_module() {
	case $1 in
	*.xz) xz -dc "$1" >"$2" ;;
	*.zst) zstd -qdc "$1" >"$2" ;;
	*.gz) gzip -dc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

# Every module's depends= (from its .modinfo) must come earlier in the list.
check_load_order() {
	local seen=" " m dep tmp
	tmp=$(mktemp)
	TMP_PATHS+=("$tmp")
	for m in "$@"; do
		copy_module "$(module_file "$m")" "$tmp"
		for dep in $(tr '\0' '\n' <"$tmp" | sed -n 's/^depends=//p' | tr , ' '); do
			[[ $seen == *" ${dep//_/-} "* || $seen == *" ${dep//-/_} "* ]] ||
				die "module $m needs $dep loaded before it; fix the list in $0"
		done
		seen+="$m "
	done
}

# build_initrd OUT INIT "MODULES" [FILE...]: a plain cpio (no compression: the lab decompresses
# nothing under TCG) with busybox, the modules in load order, /init and extra files in /bin.
build_initrd() {
	local out=$1 init=$2 modules=$3 key stage m f
	shift 3
	# shellcheck disable=SC2086 # the module list is meant to split
	key=$({
		cat "$CACHE/kernel/.version" "$init" "$BUSYBOX" "$@"
		echo $modules
	} | sha256sum | cut -d' ' -f1)
	[[ -f $out && $(cat "$out.key" 2>/dev/null) == "$key" ]] && return 0
	# shellcheck disable=SC2086
	check_load_order $modules
	stage=$(mktemp -d "$CACHE/stage.XXXXXX")
	TMP_PATHS+=("$stage" "$out.tmp")
	mkdir -p "$stage"/{bin,lib/modules,proc,sys,dev,host,tmp}
	cp "$BUSYBOX" "$stage/bin/busybox"
	install -m 755 "$init" "$stage/init"
	for f in "$@"; do
		install -m 755 "$f" "$stage/bin/"
	done
	for m in $modules; do
		copy_module "$(module_file "$m")" "$stage/lib/modules/$m.ko"
		echo "$m" >>"$stage/lib/modules/load-order"
	done
	(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out.tmp"
	mv "$out.tmp" "$out"
	echo "$key" >"$out.key"
	say "built $out"
}

build_demand() {
	make -C "$REPO" -q .output/guest/demand >/dev/null 2>&1 ||
		make -C "$REPO" --no-print-directory .output/guest/demand >&2 ||
		die "cannot build .output/guest/demand (tests/guest/demand.c)"
}

# A 256 MiB file the lab can read into its page cache (test 2); sparse, so it costs no disk.
make_bigfile() {
	[[ -f $CACHE/bigfile-256M ]] || truncate -s 256M "$CACHE/bigfile-256M"
}

prepare() {
	local lock
	mkdir -p "$CACHE/runs"
	# Labs may run side by side; one of them builds at a time.
	exec {lock}>"$CACHE/.lock"
	flock "$lock"
	fetch_kernel
	make_bigfile
	build_demand
	build_initrd "$CACHE/outer-initrd.cpio" "$REPO/scripts/lab/outer-init.sh" \
		"${OUTER_MODULES[*]}"
	build_initrd "$CACHE/guest-initrd.cpio" "$REPO/scripts/lab/guest-init.sh" \
		"${GUEST_MODULES[*]}" "$REPO/.output/guest/demand"
	exec {lock}>&-
}

# --- one run -------------------------------------------------------------------------------

# The script the lab runs chrooted: environment, the repo as working directory, then CMD.
write_cmd() {
	local term=$1 v
	shift
	{
		for v in $(compgen -e DYNMEM_ || true); do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
		# Then what the lab provides, over anything of the same name.
		echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		printf 'export HOME=/tmp LANG=C.UTF-8 TERM=%q DYNMEM_LAB=1\n' "$term"
		printf 'export DYNMEM_LAB_CACHE=%q\n' "$CACHE"
		printf 'export DYNMEM_LAB_KERNEL=%q\n' "$(kernel_image)"
		printf 'export DYNMEM_LAB_GUEST_INITRD=%q\n' "$CACHE/guest-initrd.cpio"
		printf 'export DYNMEM_LAB_BIGFILE=%q\n' "$CACHE/bigfile-256M"
		printf 'cd %q || exit 125\n' "$REPO"
		printf '%q ' "$@"
		echo
	} >"$RUN_DIR/cmd"
}

# Each stream the lab writes arrives through a fifo and a cat that shares our stdout/stderr.
start_stream() {
	mkfifo "$RUN_DIR/$1"
	cat "$RUN_DIR/$1" >&"$2" &
	CAT_PIDS+=($!)
}

# mode "run": stdout/stderr come back on ours; mode "shell": the guest's ttyS1 is our terminal.
start_qemu() {
	local mode=$1 out
	# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
	local -a args=(
		-accel "$ACCEL" -cpu max -smp 2 -m "$((2 * NODE_MB))M" -nographic -nodefaults -no-reboot
		-object "memory-backend-ram,id=m0,size=${NODE_MB}M"
		-object "memory-backend-ram,id=m1,size=${NODE_MB}M"
		-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
		-kernel "$(kernel_image)" -initrd "$CACHE/outer-initrd.cpio"
		-append "console=ttyS0 quiet panic=-1 dynmem.run=$RUN_DIR dynmem.repo=$REPO dynmem.mode=$mode $APPEND"
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
		-chardev "file,id=console,path=$RUN_DIR/console.log" -serial chardev:console
		-monitor "unix:$RUN_DIR/monitor.sock,server=on,wait=off"
	)
	if [[ $mode == shell ]]; then
		# ttyS2 (CMD's stderr in "run" mode) is unused; it keeps the status line on ttyS3.
		# shellcheck disable=SC2054
		args+=(-chardev stdio,id=out,signal=off -serial chardev:out -serial null)
	else
		start_stream out 1
		start_stream err 2
		for out in out err; do
			args+=(-chardev "file,id=$out,path=$RUN_DIR/$out" -serial "chardev:$out")
		done
	fi
	args+=(-chardev "file,id=status,path=$RUN_DIR/status" -serial chardev:status)
	if [[ $mode == shell ]]; then
		# Explicit <&0: a background job would otherwise read /dev/null.
		qemu-system-x86_64 "${args[@]}" <&0 2>"$RUN_DIR/qemu.log" &
	else
		qemu-system-x86_64 "${args[@]}" </dev/null >"$RUN_DIR/qemu.log" 2>&1 &
	fi
	QEMU_PID=$!
}

now_us() { echo "${EPOCHREALTIME/./}"; }
seconds_since() {
	local tenths=$((($(now_us) - $1) / 100000))
	printf '%d.%d' $((tenths / 10)) $((tenths % 10))
}

# Stop a process we started: politely, then for sure.
stop_pid() {
	local i
	kill "$1" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
}

# Wait for QEMU to end; say when the lab booted; kill it past the deadline. 124 on timeout.
watch_qemu() {
	local start=$1 booted=0
	QEMU_RC=0
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if ((!booted)) && grep -q '^ready' "$RUN_DIR/status" 2>/dev/null; then
			booted=1
			say "booted in $(seconds_since "$start") s"
		fi
		if lab_kernel_hung; then
			say "the lab's own kernel is hung: $(lab_kernel_crash); stopping QEMU, pid $QEMU_PID"
			stop_pid "$QEMU_PID"
			return "$LAB_FAILED"
		fi
		if (($(now_us) - start > TIMEOUT * 1000000)); then
			say "timed out after $TIMEOUT s (DYNMEM_LAB_TIMEOUT); stopping QEMU," \
				"pid $QEMU_PID"
			stop_pid "$QEMU_PID"
			return 124
		fi
		sleep 0.2
	done
	wait "$QEMU_PID" || QEMU_RC=$?
	QEMU_PID=
}

# Let the cats see end-of-file even if QEMU died before opening the fifos, then reap them.
drain_streams() {
	local f fd pid
	for f in out err; do
		[[ -p $RUN_DIR/$f ]] || continue
		exec {fd}<>"$RUN_DIR/$f"
		exec {fd}>&-
	done
	for pid in "${CAT_PIDS[@]}"; do
		wait "$pid" || true
	done
	CAT_PIDS=()
}

# CMD's exit status from the control line, or a message saying why there is none.
lab_status() {
	local rc
	rc=$(sed -n 's/^exit \([0-9]*\)$/\1/p' "$RUN_DIR/status" 2>/dev/null | tail -n1)
	if [[ -n $rc ]]; then
		echo "$rc"
		return
	fi
	if ((QEMU_RC > 128)); then
		# Killed by a signal, SIGSEGV or SIGABRT: the emulator crashed, not the command.
		say "QEMU itself died (signal $((QEMU_RC - 128))) before the command finished;" \
			"console log: $RUN_DIR/console.log"
		echo "$LAB_FAILED"
		return
	fi
	if grep -q '^ready' "$RUN_DIR/status" 2>/dev/null &&
		! grep -q 'reboot: ' "$RUN_DIR/console.log" 2>/dev/null &&
		! lab_kernel_crash >/dev/null; then
		# QEMU exits (-no-reboot) when the machine resets; the lab's kernel said nothing, not
		# even its own "reboot: Power down": the emulation reset it, not the command. (A panic
		# resets it too, panic=-1: run_lab() names the panic.)
		say "the lab's machine was reset with no word from its kernel;" \
			"console log: $RUN_DIR/console.log"
		echo "$LAB_FAILED"
		return
	fi
	if grep -q '^ready' "$RUN_DIR/status" 2>/dev/null &&
		! grep -q '^error' "$RUN_DIR/status" 2>/dev/null &&
		grep -q 'reboot: Power down' "$RUN_DIR/console.log" 2>/dev/null; then
		# The lab's /init powers off right after it sends the exit status, and nothing else
		# does: the command ended but its status was lost on the way.
		say "the lab powered off without the command's exit status;" \
			"console log: $RUN_DIR/console.log"
		echo "$LAB_FAILED"
		return
	fi
	if ! grep -q '^ready' "$RUN_DIR/status" 2>/dev/null; then
		say "the lab never booted; console log: $RUN_DIR/console.log," \
			"QEMU log: $RUN_DIR/qemu.log"
	else
		say "the lab stopped before the command finished; console log: $RUN_DIR/console.log"
	fi
	tail -n 20 "$RUN_DIR/console.log" "$RUN_DIR/qemu.log" 2>/dev/null | sed 's/^/lab:   /' >&2
	echo 125
}

# The first sign that the lab's own kernel crashed, if it did. TCG emulating nested SVM is not
# always stable: about one long run in five here ends in an oops or a soft lockup somewhere in
# the lab's kernel, with or without guests running.
lab_kernel_crash() {
	grep -m1 -E 'BUG: |Oops: |Kernel panic|general protection fault|soft lockup|self-detected stall' \
		"$RUN_DIR/console.log" 2>/dev/null
}

# A CPU stuck for a minute or more: the lab will not recover (seen stuck for 12 minutes, until
# the run's timeout), so the run ends now rather than at its deadline.
lab_kernel_hung() {
	grep -qE 'soft lockup - CPU#[0-9]+ stuck for ([6-9][0-9]|[0-9]{3,})s' \
		"$RUN_DIR/console.log" 2>/dev/null
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local pid
	for pid in $QEMU_PID "${CAT_PIDS[@]}"; do
		stop_pid "$pid"
	done
	rm -rf "${TMP_PATHS[@]}"
}

run_lab() {
	local mode=$1 start rc crash
	shift
	prepare
	# Failed runs are kept for reading, for a day.
	find "$CACHE/runs" -mindepth 1 -maxdepth 1 -mtime +0 -exec rm -rf {} +
	RUN_DIR=$(mktemp -d "$CACHE/runs/run.XXXXXX")
	if [[ $mode == shell ]]; then
		write_cmd "${TERM:-dumb}" "$@"
	else
		write_cmd dumb "$@"
	fi
	start=$(now_us)
	start_qemu "$mode"
	rc=0
	watch_qemu "$start" || rc=$?
	drain_streams
	if ((rc == LAB_FAILED)); then
		: # said by watch_qemu
	elif ((rc != 124)); then
		rc=$(lab_status)
	else
		say "console log: $RUN_DIR/console.log"
	fi
	if ((rc != 0 && rc != LAB_FAILED)) && crash=$(lab_kernel_crash); then
		say "the lab's own kernel crashed, not the command: $crash"
		rc=$LAB_FAILED
	fi
	say "finished in $(seconds_since "$start") s, status $rc"
	if ((rc == 0)); then
		rm -rf "$RUN_DIR"
	else
		say "kept $RUN_DIR"
	fi
	return "$rc"
}

main() {
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT
	trap 'say "terminated"; exit 143' TERM
	check_paths
	case ${1:-} in
	prepare) prepare ;;
	run)
		(($# > 1)) || usage
		shift
		rc=0
		run_lab run "$@" || rc=$?
		if ((rc == LAB_FAILED)); then
			say "the lab failed, not the command (its kernel crashed or hung, QEMU died," \
				"or it or a guest was reset or stopped by the emulation): running it once" \
				"more in a new lab"
			rc=0
			run_lab run "$@" || rc=$?
		fi
		return "$rc"
		;;
	shell) run_lab shell bash -i ;;
	*) usage ;;
	esac
}

# On one line: bash has read all of it before running, so editing this file meanwhile is safe.
main "$@"; exit
