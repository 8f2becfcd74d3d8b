/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration file (/etc/dynmem/dynmem.conf, INI): a [host] section, one [vm NAME]
 * section per VM and an [export] section. docs/config.md is the reference for every key.
 *
 * Errors are written to err as "FILE:LINE: [SECTION] KEY = VALUE: what is allowed", e.g.
 *   dynmem.conf:12: [vm web] weight = 12000: must be 0..10000
 * and the functions return -EINVAL for anything wrong in the text, -errno for I/O.
 */
#ifndef DYNMEM_CONFIG_H
#define DYNMEM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define CONFIG_DEFAULT_PATH	   "/etc/dynmem/dynmem.conf"
#define CONFIG_DEFAULT_SOCKET	   "/run/dynmem/dynmem.sock"
#define CONFIG_DEFAULT_STATE_DIR   "/var/lib/dynmem"
#define CONFIG_DEFAULT_INTERVAL_MS 1000
#define CONFIG_MIN_INTERVAL_MS	   100
#define CONFIG_MAX_INTERVAL_MS	   60000
#define CONFIG_DEFAULT_BUFFER_PCT  20
#define CONFIG_MIN_BUFFER_PCT	   5
#define CONFIG_MAX_BUFFER_PCT	   2000
#define CONFIG_DEFAULT_WEIGHT	   5000
#define CONFIG_MAX_WEIGHT	   10000
#define CONFIG_MAX_NUMA_NODE	   1023
#define CONFIG_MIN_VM_BYTES	   (1ULL << 20) /* startup, minimum, maximum: below is a typo */
#define CONFIG_RESERVE_BASE_BYTES  (1ULL << 30)
#define CONFIG_MAX_NAME		   63

/* struct config_vm.numa: one of these, or >= 0: pinned to that node */
enum config_numa {
	CONFIG_NUMA_AUTO = -1, /* dynmem places it (one node when numa-spanning = no) */
	CONFIG_NUMA_SPAN = -2, /* may span nodes even when numa-spanning = no */
};

#define CONFIG_ENFORCE_CGROUP  (1u << 0)
#define CONFIG_ENFORCE_BALLOON (1u << 1)
#define CONFIG_ENFORCE_NUMA    (1u << 2)

struct config_vm {
	char name[CONFIG_MAX_NAME + 1]; /* [vm NAME]: letters, digits, - _ ., first alnum; unique */
	/*
	 * Path under the cgroup2 mount, as written (cgroupfs_resolve() reads it). Empty when only
	 * qmp is given: dynmemd then adopts the QEMU into dynmem.slice/NAME.scope.
	 */
	char cgroup[4096];
	char qmp[4096];	     /* QMP unix socket, absolute; empty: none */
	__u64 startup_bytes; /* required */
	__u64 minimum_bytes; /* default = startup */
	__u64 maximum_bytes; /* required; maximum >= startup >= minimum */
	__u32 buffer_pct;    /* 5..2000, default 20 */
	__u32 weight;	     /* 0..10000, default 5000 */
	int numa;	     /* CONFIG_NUMA_AUTO, CONFIG_NUMA_SPAN or a node 0..1023 */
	/*
	 * The enforcers acting on this VM. Without an enforcers key of its own, a VM takes the
	 * [host] list minus balloon when it has no qmp, minus numa when numa = span, plus numa
	 * when pinned to a node (config_vm_finish() works it out).
	 */
	unsigned int enforcers;
	bool enforcers_set; /* the VM has its own enforcers key */
};

struct config_host {
	bool reserve_auto;   /* reserve = auto: config_reserve_auto_bytes() of the host */
	__u64 reserve_bytes; /* reserve = SIZE; 0 when auto */
	bool numa_spanning;  /* default yes */
	__u32 interval_ms;   /* the tick, 100..60000, default 1000 */
	/* default cgroup,balloon; numa added when numa-spanning = no */
	unsigned int enforcers;
	char control_socket[4096]; /* default /run/dynmem/dynmem.sock; < 108 bytes (sun_path) */
	char state_dir[4096];	   /* default /var/lib/dynmem: `dynmem set` changes persist here */
	char textfile[4096];	   /* [export] textfile: a .prom file; empty: no export */
};

struct config {
	struct config_host host;
	struct config_vm *vms; /* in file order */
	size_t nr_vms;
};

/*
 * Reads and validates the whole file. All or nothing: on error *ret is untouched, err says
 * what is wrong and where, and the return is -EINVAL (the text) or -errno (opening or
 * reading; the message names the path). On success *ret is overwritten (a caller reloading
 * frees the old one after the swap) and is freed with config_free(). err may be NULL.
 */
int config_load(const char *path, struct config *ret, char *err, size_t errlen);
void config_free(struct config *c);

/*
 * Validates one key = value of a [vm NAME] section and applies it, exactly as the loader
 * does for the file (key and value as inih hands them over: trimmed). On error vm is
 * untouched and err reads "[vm NAME] KEY = VALUE: what is allowed". This checks the value
 * alone; config_vm_finish() checks the VM as a whole.
 */
int config_vm_set(struct config_vm *vm, const char *key, const char *value, char *err,
		  size_t errlen);

/*
 * What involves more than one key, as the loader checks it at the end of a section and of
 * the file: startup and maximum given, minimum (defaulting to startup) <= startup <=
 * maximum, cgroup or qmp given, an enforcers list that can work (balloon needs qmp, a
 * pinned node or numa-spanning = no needs numa), and the inherited enforcers. `dynmem set`
 * runs config_vm_set() on a copy, then this, and commits the copy on 0. Not checked here:
 * uniqueness of names, cgroups and sockets across VMs (the loader does that). On error vm
 * is untouched.
 */
int config_vm_finish(struct config_vm *vm, const struct config_host *host, char *err,
		     size_t errlen);

/*
 * reserve = auto: 1 GiB + 1/64 of the host's RAM, at most a quarter of it, rounded down to
 * a MiB. docs/config.md says why.
 */
__u64 config_reserve_auto_bytes(__u64 host_total_bytes);

#endif
