// SPDX-License-Identifier: GPL-2.0-only
/*
 * The configuration file → struct config, with inih (docs/config.md is the reference).
 *
 * inih splits the key lines; our reader feeds it and does what inih (r55, as Debian builds
 * it) can't do for us:
 *  - it counts lines: the handler gets no line number, the library is built without
 *    INI_HANDLER_LINENO;
 *  - it reads section headers itself: inih calls the handler only for keys, so an empty
 *    [vm x] would go unnoticed, and it cuts section names to 49 bytes (a VM name has 63);
 *  - it strips leading whitespace, so an indented key stays a key instead of becoming a
 *    multi-line continuation of the previous value;
 *  - it refuses a line longer than inih's buffer, which inih would silently split in two.
 * Blank lines, comments and section headers reach inih as empty lines: inih only ever sees
 * key lines, and its line count stays in step with ours.
 *
 * The whole file is checked before anything is returned, so a bad reload changes nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <ini.h>
#include "config.h"
#include "size.h"

#define MSG_LEN	 1024
#define UNIX_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

enum host_key {
	HOST_RESERVE,
	HOST_NUMA_SPANNING,
	HOST_INTERVAL,
	HOST_ENFORCERS,
	HOST_CONTROL_SOCKET,
	HOST_STATE_DIR,
	HOST_NR_KEYS
};

static const char *const host_keys[HOST_NR_KEYS] = {
	[HOST_RESERVE] = "reserve",
	[HOST_NUMA_SPANNING] = "numa-spanning",
	[HOST_INTERVAL] = "interval",
	[HOST_ENFORCERS] = "enforcers",
	[HOST_CONTROL_SOCKET] = "control-socket",
	[HOST_STATE_DIR] = "state-dir",
};

enum vm_key {
	VM_CGROUP,
	VM_QMP,
	VM_STARTUP,
	VM_MINIMUM,
	VM_MAXIMUM,
	VM_BUFFER,
	VM_WEIGHT,
	VM_NUMA,
	VM_ENFORCERS,
	VM_NR_KEYS
};

static const char *const vm_keys[VM_NR_KEYS] = {
	[VM_CGROUP] = "cgroup",	  [VM_QMP] = "qmp",	    [VM_STARTUP] = "startup",
	[VM_MINIMUM] = "minimum", [VM_MAXIMUM] = "maximum", [VM_BUFFER] = "buffer",
	[VM_WEIGHT] = "weight",	  [VM_NUMA] = "numa",	    [VM_ENFORCERS] = "enforcers",
};

enum export_key { EXPORT_TEXTFILE, EXPORT_NR_KEYS };

static const char *const export_keys[EXPORT_NR_KEYS] = { [EXPORT_TEXTFILE] = "textfile" };

/* Bit i of an enforcer mask. */
static const char *const enforcer_names[] = { "cgroup", "balloon", "numa" };
#define NR_ENFORCER_NAMES (sizeof(enforcer_names) / sizeof(enforcer_names[0]))

/* --- messages ------------------------------------------------------------------------ */

static void __attribute__((format(printf, 3, 4))) say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* "[SECTION] KEY = VALUE: " and the reason: the one shape of every message about a value. */
static int __attribute__((format(printf, 6, 7)))
bad_value(char *err, size_t errlen, const char *label, const char *key, const char *value,
	  const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return -EINVAL;
	n = snprintf(err, errlen, "%s %s = %s: ", label, key, value);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void join(const char *const *words, size_t nr, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nr && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", words[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int unknown_key(char *err, size_t errlen, const char *label, const char *key,
		       const char *value, const char *const *keys, size_t nr)
{
	char allowed[256];

	join(keys, nr, allowed, sizeof(allowed));
	return bad_value(err, errlen, label, key, value, "unknown key; allowed: %s", allowed);
}

static void vm_label(const struct config_vm *vm, char *buf, size_t len)
{
	snprintf(buf, len, "[vm %s]", vm->name);
}

static void format_enforcers(unsigned int mask, char *buf, size_t len)
{
	const char *on[NR_ENFORCER_NAMES];
	size_t nr = 0;

	for (size_t i = 0; i < NR_ENFORCER_NAMES; i++)
		if (mask & (1u << i))
			on[nr++] = enforcer_names[i];
	join(on, nr, buf, len);
	if (!nr)
		snprintf(buf, len, "(none)");
}

/* --- values -------------------------------------------------------------------------- */

static int key_index(const char *const *keys, size_t nr, const char *name)
{
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(keys[i], name))
			return (int)i;
	return -1;
}

/* Decimal digits only (no sign, no spaces, no 0x), then an optional '%' when allowed. */
static int parse_u32(const char *s, __u32 min, __u32 max, bool percent, __u32 *ret_value)
{
	unsigned long long v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++)
		if (v <= max) /* past max it can only stay out of range: stop before it wraps */
			v = v * 10 + (unsigned int)(*p - '0');
	if (percent && *p == '%')
		p++;
	if (*p || v < min || v > max)
		return -EINVAL;
	*ret_value = (__u32)v;
	return 0;
}

static int parse_bool(const char *s, bool *ret_value)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*ret_value = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*ret_value = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* 1000, 1000ms, 1s, 2.5s: a bare number is milliseconds, like the field it fills. */
static int parse_interval_ms(const char *s, __u32 *ret_ms)
{
	unsigned long long whole = 0, frac = 0, ms;
	unsigned int nr_frac = 0;
	bool dot = false;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++)
		if (whole < 1000000000ULL)
			whole = whole * 10 + (unsigned int)(*p - '0');
	if (*p == '.') {
		dot = true;
		if (!isdigit((unsigned char)*++p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (nr_frac == 3 && *p != '0')
				return -EINVAL; /* finer than the millisecond we count in */
			if (nr_frac < 3) {
				frac = frac * 10 + (unsigned int)(*p - '0');
				nr_frac++;
			}
		}
		for (; nr_frac < 3; nr_frac++)
			frac *= 10;
	}
	if (!strcmp(p, "s"))
		ms = whole * 1000 + frac;
	else if ((!*p || !strcmp(p, "ms")) && !dot)
		ms = whole;
	else
		return -EINVAL;
	if (ms < CONFIG_MIN_INTERVAL_MS || ms > CONFIG_MAX_INTERVAL_MS)
		return -EINVAL;
	*ret_ms = (__u32)ms;
	return 0;
}

/* "cgroup,balloon", "cgroup, numa", "cgroup numa": commas and/or blanks between names. */
static int parse_enforcers(const char *s, char *bad, size_t badlen, unsigned int *ret_mask)
{
	unsigned int mask = 0;
	const char *p = s;

	while (*p) {
		size_t n, i;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (!n)
			break;
		for (i = 0; i < NR_ENFORCER_NAMES; i++)
			if (strlen(enforcer_names[i]) == n && !strncmp(p, enforcer_names[i], n))
				break;
		if (i == NR_ENFORCER_NAMES) {
			snprintf(bad, badlen, "%.*s", (int)n, p);
			return -EINVAL;
		}
		mask |= 1u << i;
		p += n;
	}
	if (!mask) {
		snprintf(bad, badlen, "%s", "");
		return -EINVAL;
	}
	*ret_mask = mask;
	return 0;
}

static int set_enforcers(const char *label, const char *key, const char *value,
			 unsigned int *ret_mask, char *err, size_t errlen)
{
	char bad[64];

	if (!parse_enforcers(value, bad, sizeof(bad), ret_mask))
		return 0;
	if (!*bad)
		return bad_value(err, errlen, label, key, value,
				 "must list one or more of cgroup, balloon, numa");
	return bad_value(err, errlen, label, key, value,
			 "unknown enforcer '%s'; allowed: cgroup, balloon, numa", bad);
}

/* A path under the cgroup2 mount; "." or ".." would reach outside the VM's own cgroup. */
static bool cgroup_path_ok(const char *s)
{
	bool any = false;

	while (*s) {
		size_t n;

		s += strspn(s, "/");
		n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		any |= n > 0;
		s += n;
	}
	return any; /* "/" alone is the root cgroup: the whole host */
}

static int set_path(const char *label, const char *key, const char *value, char *dst,
		    size_t max_len, const char *what, char *err, size_t errlen)
{
	if (value[0] != '/')
		return bad_value(err, errlen, label, key, value, "must be an absolute path (%s)",
				 what);
	if (strlen(value) > max_len)
		return bad_value(err, errlen, label, key, value, "longer than %zu bytes (%s)",
				 max_len, what);
	strcpy(dst, value);
	return 0;
}

static int vm_size(const char *label, const char *key, const char *value, __u64 *ret_bytes,
		   char *err, size_t errlen)
{
	__u64 bytes;
	int r = size_parse(value, &bytes);

	if (r == -ERANGE)
		return bad_value(err, errlen, label, key, value, "too large");
	if (r)
		return bad_value(err, errlen, label, key, value,
				 "must be a size such as 512M or 4G (suffixes K, M, G, T)");
	if (bytes < CONFIG_MIN_VM_BYTES)
		return bad_value(err, errlen, label, key, value,
				 "must be at least 1M (a number without a suffix is bytes)");
	*ret_bytes = bytes;
	return 0;
}

static int vm_set_key(struct config_vm *vm, enum vm_key key, const char *value, char *err,
		      size_t errlen)
{
	const char *name = vm_keys[key];
	char label[CONFIG_MAX_NAME + 8];
	unsigned int mask;
	__u32 u;
	int r = 0;

	vm_label(vm, label, sizeof(label));
	switch (key) {
	case VM_CGROUP:
		if (!cgroup_path_ok(value))
			return bad_value(err, errlen, label, name, value,
					 "must be the VM's cgroup under the cgroup2 mount, such as "
					 "machine.slice/machine-qemu-1-web.scope, without . or ..");
		if (strlen(value) >= sizeof(vm->cgroup))
			return bad_value(err, errlen, label, name, value, "too long");
		strcpy(vm->cgroup, value);
		break;
	case VM_QMP:
		r = set_path(label, name, value, vm->qmp, UNIX_MAX,
			     "QEMU's -qmp unix:PATH,server socket", err, errlen);
		break;
	case VM_STARTUP:
		r = vm_size(label, name, value, &vm->startup_bytes, err, errlen);
		break;
	case VM_MINIMUM:
		r = vm_size(label, name, value, &vm->minimum_bytes, err, errlen);
		break;
	case VM_MAXIMUM:
		r = vm_size(label, name, value, &vm->maximum_bytes, err, errlen);
		break;
	case VM_BUFFER:
		if (parse_u32(value, CONFIG_MIN_BUFFER_PCT, CONFIG_MAX_BUFFER_PCT, true, &u))
			return bad_value(err, errlen, label, name, value,
					 "must be %u..%u (percent on top of demand)",
					 CONFIG_MIN_BUFFER_PCT, CONFIG_MAX_BUFFER_PCT);
		vm->buffer_pct = u;
		break;
	case VM_WEIGHT:
		if (parse_u32(value, 0, CONFIG_MAX_WEIGHT, false, &u))
			return bad_value(err, errlen, label, name, value, "must be 0..%u",
					 CONFIG_MAX_WEIGHT);
		vm->weight = u;
		break;
	case VM_NUMA:
		if (!strcmp(value, "auto"))
			vm->numa = CONFIG_NUMA_AUTO;
		else if (!strcmp(value, "span"))
			vm->numa = CONFIG_NUMA_SPAN;
		else if (!parse_u32(value, 0, CONFIG_MAX_NUMA_NODE, false, &u))
			vm->numa = (int)u;
		else
			return bad_value(err, errlen, label, name, value,
					 "must be auto, span or a node number 0..%u",
					 CONFIG_MAX_NUMA_NODE);
		break;
	case VM_ENFORCERS:
		r = set_enforcers(label, name, value, &mask, err, errlen);
		if (!r) {
			vm->enforcers = mask;
			vm->enforcers_set = true;
		}
		break;
	case VM_NR_KEYS:
		break;
	}
	return r;
}

int config_vm_set(struct config_vm *vm, const char *key, const char *value, char *err,
		  size_t errlen)
{
	char label[CONFIG_MAX_NAME + 8];
	int k;

	if (!vm || !key || !value) {
		say(err, errlen, "no VM, key or value");
		return -EINVAL;
	}
	k = key_index(vm_keys, VM_NR_KEYS, key);
	if (k < 0) {
		vm_label(vm, label, sizeof(label));
		return unknown_key(err, errlen, label, key, value, vm_keys, VM_NR_KEYS);
	}
	return vm_set_key(vm, (enum vm_key)k, value, err, errlen);
}

static int host_set_key(struct config_host *h, enum host_key key, const char *value, char *err,
			size_t errlen)
{
	const char *label = "[host]", *name = host_keys[key];
	unsigned int mask;
	__u64 bytes;
	bool b;
	int r = 0;

	switch (key) {
	case HOST_RESERVE:
		if (!strcmp(value, "auto")) {
			h->reserve_auto = true;
			h->reserve_bytes = 0;
			break;
		}
		r = size_parse(value, &bytes);
		if (r == -ERANGE)
			return bad_value(err, errlen, label, name, value, "too large");
		if (r)
			return bad_value(err, errlen, label, name, value,
					 "must be auto or a size such as 4G (suffixes K, M, G, T)");
		h->reserve_auto = false;
		h->reserve_bytes = bytes;
		break;
	case HOST_NUMA_SPANNING:
		if (parse_bool(value, &b))
			return bad_value(err, errlen, label, name, value, "must be yes or no");
		h->numa_spanning = b;
		break;
	case HOST_INTERVAL:
		if (parse_interval_ms(value, &h->interval_ms))
			return bad_value(err, errlen, label, name, value,
					 "must be 100ms..60s (milliseconds, or a number with ms "
					 "or s)");
		break;
	case HOST_ENFORCERS:
		r = set_enforcers(label, name, value, &mask, err, errlen);
		if (!r)
			h->enforcers = mask;
		break;
	case HOST_CONTROL_SOCKET:
		r = set_path(label, name, value, h->control_socket, UNIX_MAX, "a unix socket path",
			     err, errlen);
		break;
	case HOST_STATE_DIR:
		r = set_path(label, name, value, h->state_dir, sizeof(h->state_dir) - 1,
			     "a directory", err, errlen);
		break;
	case HOST_NR_KEYS:
		break;
	}
	return r;
}

static int export_set_key(struct config_host *h, enum export_key key, const char *value, char *err,
			  size_t errlen)
{
	const char *label = "[export]", *name = export_keys[key];
	size_t n = strlen(value);

	if (!n) { /* textfile = (nothing): export off */
		h->textfile[0] = '\0';
		return 0;
	}
	/* node_exporter's textfile collector reads *.prom only: any other name is never seen. */
	if (value[0] != '/' || n < 6 || strcmp(value + n - 5, ".prom"))
		return bad_value(err, errlen, label, name, value,
				 "must be an absolute path ending in .prom, in node_exporter's "
				 "textfile directory, or empty for no export");
	return set_path(label, name, value, h->textfile, sizeof(h->textfile) - 1, "a .prom file",
			err, errlen);
}

/* --- a VM as a whole ----------------------------------------------------------------- */

/* A check that failed: which key to blame (its line) or -1 for the section header. */
struct problem {
	int key;
	char msg[MSG_LEN];
};

static int __attribute__((format(printf, 3, 4)))
problem(struct problem *p, int key, const char *fmt, ...)
{
	va_list ap;

	p->key = key;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* What the VM's own keys must agree on; minimum already defaulted. */
static int vm_check_alone(const struct config_vm *vm, struct problem *p)
{
	char label[CONFIG_MAX_NAME + 8], a[32], b[32], list[64];

	vm_label(vm, label, sizeof(label));
	if (!vm->startup_bytes)
		return problem(p, -1,
			       "%s: startup is required (the memory it boots with, e.g. "
			       "startup = 2G)",
			       label);
	if (!vm->maximum_bytes)
		return problem(p, -1,
			       "%s: maximum is required (QEMU's -m, or maxmem with "
			       "virtio-mem, e.g. maximum = 8G)",
			       label);
	if (!vm->cgroup[0] && !vm->qmp[0])
		return problem(p, -1,
			       "%s: needs cgroup = PATH (its cgroup under the cgroup2 "
			       "mount) or qmp = SOCKET (to find and adopt its QEMU), or both",
			       label);
	if (vm->minimum_bytes > vm->startup_bytes)
		return problem(p, VM_MINIMUM, "%s minimum = %s: must not exceed startup = %s",
			       label, size_format(a, sizeof(a), vm->minimum_bytes),
			       size_format(b, sizeof(b), vm->startup_bytes));
	if (vm->startup_bytes > vm->maximum_bytes)
		return problem(p, VM_STARTUP, "%s startup = %s: must not exceed maximum = %s",
			       label, size_format(a, sizeof(a), vm->startup_bytes),
			       size_format(b, sizeof(b), vm->maximum_bytes));
	if (!vm->enforcers_set)
		return 0;
	format_enforcers(vm->enforcers, list, sizeof(list));
	if ((vm->enforcers & CONFIG_ENFORCE_BALLOON) && !vm->qmp[0])
		return problem(p, VM_ENFORCERS, "%s enforcers = %s: balloon needs qmp = SOCKET",
			       label, list);
	if (vm->numa >= 0 && !(vm->enforcers & CONFIG_ENFORCE_NUMA))
		return problem(p, VM_ENFORCERS,
			       "%s enforcers = %s: numa = %d pins the VM to node %d, which needs "
			       "the numa enforcer; add numa",
			       label, list, vm->numa, vm->numa);
	return 0;
}

static unsigned int inherited_enforcers(const struct config_vm *vm, const struct config_host *h)
{
	unsigned int e = h->enforcers;

	if (!vm->qmp[0])
		e &= ~CONFIG_ENFORCE_BALLOON;
	if (vm->numa == CONFIG_NUMA_SPAN)
		e &= ~CONFIG_ENFORCE_NUMA;
	else if (vm->numa >= 0)
		e |= CONFIG_ENFORCE_NUMA;
	return e;
}

/* What depends on [host], which may come after the VM in the file. */
static int vm_check_host(const struct config_vm *vm, const struct config_host *h, struct problem *p)
{
	char label[CONFIG_MAX_NAME + 8], list[64];

	vm_label(vm, label, sizeof(label));
	if (!vm->enforcers_set) {
		if (inherited_enforcers(vm, h))
			return 0;
		format_enforcers(h->enforcers, list, sizeof(list));
		return problem(p, -1,
			       "%s: none of the [host] enforcers (%s) can act on it (balloon needs "
			       "qmp); give it qmp = SOCKET or enforcers = cgroup",
			       label, list);
	}
	if (!h->numa_spanning && vm->numa == CONFIG_NUMA_AUTO &&
	    !(vm->enforcers & CONFIG_ENFORCE_NUMA)) {
		format_enforcers(vm->enforcers, list, sizeof(list));
		return problem(
			p, VM_ENFORCERS,
			"%s enforcers = %s: numa-spanning = no keeps each VM on one node, "
			"which needs the numa enforcer; add numa, or numa = span for this VM",
			label, list);
	}
	return 0;
}

int config_vm_finish(struct config_vm *vm, const struct config_host *host, char *err, size_t errlen)
{
	__u64 minimum_bytes;
	struct problem p;
	struct config_vm v;

	if (!vm || !host) {
		say(err, errlen, "no VM or host");
		return -EINVAL;
	}
	v = *vm;
	minimum_bytes = v.minimum_bytes ? v.minimum_bytes : v.startup_bytes;
	v.minimum_bytes = minimum_bytes;
	if (vm_check_alone(&v, &p) || vm_check_host(&v, host, &p)) {
		say(err, errlen, "%s", p.msg);
		return -EINVAL;
	}
	vm->minimum_bytes = minimum_bytes;
	if (!vm->enforcers_set)
		vm->enforcers = inherited_enforcers(vm, host);
	return 0;
}

/*
 * 1 GiB covers what a KVM host needs whatever its size (kernel, systemd, sshd, libvirt,
 * agents, a little page cache); 1/64 of RAM (1.6%) grows with the host for what grows with
 * it: watermarks (min_free_kbytes, watermark_scale_factor), kernel page tables and slab, and
 * the free memory that absorbs several VMs' bursts in the second before the balloons and
 * memory.high catch up. QEMU's own per-VM overhead is not in here: the budget takes it off
 * per VM. The quarter cap keeps a small lab host usable.
 */
__u64 config_reserve_auto_bytes(__u64 host_total_bytes)
{
	__u64 want = CONFIG_RESERVE_BASE_BYTES + host_total_bytes / 64;
	__u64 cap = host_total_bytes / 4;

	return (want < cap ? want : cap) & ~((1ULL << 20) - 1);
}

/* --- the loader ---------------------------------------------------------------------- */

enum section { SECTION_NONE, SECTION_HOST, SECTION_VM, SECTION_EXPORT };

/* Where each key of a VM was set, for messages about the VM as a whole. */
struct vm_lines {
	int header;
	int key[VM_NR_KEYS];
};

struct loader {
	const char *path;
	FILE *f;
	char *buf; /* getline()'s: the whole line, however long */
	size_t buf_cap;
	int lineno;
	int err; /* the first error, -errno */
	char *errbuf;
	size_t errlen;

	struct config cfg;
	struct vm_lines *lines; /* parallel to cfg.vms */
	size_t vms_cap;

	enum section section;
	char label[CONFIG_MAX_NAME + 8]; /* "[vm web]" */
	int host_header, host_lines[HOST_NR_KEYS];
	int export_header, export_lines[EXPORT_NR_KEYS];
};

/* Records the first error only: the rest of the file is not read after it. */
static void __attribute__((format(printf, 3, 4)))
fail(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->err)
		return;
	ld->err = -EINVAL;
	if (!ld->errbuf || !ld->errlen)
		return;
	n = snprintf(ld->errbuf, ld->errlen, "%s:%d: ", ld->path, line);
	if (n < 0 || (size_t)n >= ld->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->errbuf + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void fail_errno(struct loader *ld, int err)
{
	if (ld->err)
		return;
	ld->err = err;
	if (err == -ENOMEM)
		say(ld->errbuf, ld->errlen, "%s:%d: out of memory", ld->path, ld->lineno);
	else
		say(ld->errbuf, ld->errlen, "%s:%d: cannot read: %s", ld->path, ld->lineno,
		    strerror(-err));
}

static struct config_vm *cur_vm(struct loader *ld)
{
	return &ld->cfg.vms[ld->cfg.nr_vms - 1];
}

static struct vm_lines *cur_lines(struct loader *ld)
{
	return &ld->lines[ld->cfg.nr_vms - 1];
}

static const char *skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static char *trim(char *s)
{
	size_t n;

	s += strspn(s, " \t\r\n\v\f");
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The key's index, after refusing an unknown or repeated key; -1 when refused. */
static int section_key(struct loader *ld, const char *const *keys, size_t nr, int *lines,
		       const char *name, const char *value)
{
	char msg[MSG_LEN];
	int k = key_index(keys, nr, name);

	if (k < 0) {
		unknown_key(msg, sizeof(msg), ld->label, name, value, keys, nr);
		fail(ld, ld->lineno, "%s", msg);
		return -1;
	}
	if (lines[k]) {
		fail(ld, ld->lineno, "%s %s = %s: duplicate key (first set on line %d)", ld->label,
		     name, value, lines[k]);
		return -1;
	}
	lines[k] = ld->lineno;
	return k;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	char msg[MSG_LEN];
	int k, r = 0;

	(void)section; /* always "": inih never sees our section headers */
	if (ld->err)
		return 0;
	switch (ld->section) {
	case SECTION_NONE:
		fail(ld, ld->lineno,
		     "%s = %s: key outside any section; put it under [host], [vm NAME] or "
		     "[export]",
		     name, value);
		return 0;
	case SECTION_HOST:
		k = section_key(ld, host_keys, HOST_NR_KEYS, ld->host_lines, name, value);
		if (k >= 0)
			r = host_set_key(&ld->cfg.host, (enum host_key)k, value, msg, sizeof(msg));
		break;
	case SECTION_VM:
		k = section_key(ld, vm_keys, VM_NR_KEYS, cur_lines(ld)->key, name, value);
		if (k >= 0)
			r = vm_set_key(cur_vm(ld), (enum vm_key)k, value, msg, sizeof(msg));
		break;
	case SECTION_EXPORT:
		k = section_key(ld, export_keys, EXPORT_NR_KEYS, ld->export_lines, name, value);
		if (k >= 0)
			r = export_set_key(&ld->cfg.host, (enum export_key)k, value, msg,
					   sizeof(msg));
		break;
	}
	if (r)
		fail(ld, ld->lineno, "%s", msg);
	return !ld->err;
}

static void host_end(struct loader *ld)
{
	const struct config_host *h = &ld->cfg.host;
	char list[64];

	if (!ld->host_lines[HOST_ENFORCERS] || h->numa_spanning ||
	    (h->enforcers & CONFIG_ENFORCE_NUMA))
		return;
	format_enforcers(h->enforcers, list, sizeof(list));
	fail(ld, ld->host_lines[HOST_ENFORCERS],
	     "[host] enforcers = %s: numa-spanning = no needs the numa enforcer; add numa, or set "
	     "numa-spanning = yes",
	     list);
}

/* Two VMs on one cgroup or one QMP socket would fight over the same QEMU. */
static void vm_check_unique(struct loader *ld)
{
	const struct config_vm *vm = cur_vm(ld);
	const struct vm_lines *l = cur_lines(ld);

	for (size_t i = 0; i + 1 < ld->cfg.nr_vms; i++) {
		const struct config_vm *o = &ld->cfg.vms[i];

		if (vm->cgroup[0] && !strcmp(vm->cgroup + strspn(vm->cgroup, "/"),
					     o->cgroup + strspn(o->cgroup, "/"))) {
			fail(ld, l->key[VM_CGROUP],
			     "[vm %s] cgroup = %s: already the cgroup of "
			     "[vm %s] (line %d)",
			     vm->name, vm->cgroup, o->name, ld->lines[i].header);
			return;
		}
		if (vm->qmp[0] && !strcmp(vm->qmp, o->qmp)) {
			fail(ld, l->key[VM_QMP],
			     "[vm %s] qmp = %s: already the socket of [vm %s] "
			     "(line %d)",
			     vm->name, vm->qmp, o->name, ld->lines[i].header);
			return;
		}
	}
}

static void vm_end(struct loader *ld)
{
	struct config_vm *vm = cur_vm(ld);
	const struct vm_lines *l = cur_lines(ld);
	struct problem p;

	if (!l->key[VM_MINIMUM])
		vm->minimum_bytes = vm->startup_bytes;
	if (vm_check_alone(vm, &p)) {
		fail(ld, p.key >= 0 && l->key[p.key] ? l->key[p.key] : l->header, "%s", p.msg);
		return;
	}
	vm_check_unique(ld);
}

static void section_end(struct loader *ld)
{
	if (ld->section == SECTION_VM)
		vm_end(ld);
	else if (ld->section == SECTION_HOST)
		host_end(ld);
	ld->section = SECTION_NONE;
}

static bool vm_name_ok(const char *name)
{
	size_t n = strlen(name);

	/* The name becomes a file under state-dir and a scope name: no "..", no "/". */
	if (!n || n > CONFIG_MAX_NAME || !isalnum((unsigned char)name[0]))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
	       n;
}

static void vm_begin(struct loader *ld, const char *name)
{
	struct config_vm *vm;

	if (!vm_name_ok(name)) {
		fail(ld, ld->lineno,
		     "[vm %s]: a VM name is 1-%d letters, digits, '-', '_' or '.', starting with a "
		     "letter or digit",
		     name, CONFIG_MAX_NAME);
		return;
	}
	for (size_t i = 0; i < ld->cfg.nr_vms; i++) {
		if (!strcmp(ld->cfg.vms[i].name, name)) {
			fail(ld, ld->lineno, "[vm %s]: duplicate VM name (first on line %d)", name,
			     ld->lines[i].header);
			return;
		}
	}
	if (ld->cfg.nr_vms == ld->vms_cap) {
		size_t cap = ld->vms_cap ? 2 * ld->vms_cap : 8;
		struct config_vm *vms = realloc(ld->cfg.vms, cap * sizeof(*vms));
		struct vm_lines *lines;

		if (!vms) {
			fail_errno(ld, -ENOMEM);
			return;
		}
		ld->cfg.vms = vms;
		lines = realloc(ld->lines, cap * sizeof(*lines));
		if (!lines) {
			fail_errno(ld, -ENOMEM);
			return;
		}
		ld->lines = lines;
		ld->vms_cap = cap;
	}
	vm = &ld->cfg.vms[ld->cfg.nr_vms];
	memset(vm, 0, sizeof(*vm));
	strcpy(vm->name, name);
	vm->buffer_pct = CONFIG_DEFAULT_BUFFER_PCT;
	vm->weight = CONFIG_DEFAULT_WEIGHT;
	vm->numa = CONFIG_NUMA_AUTO;
	memset(&ld->lines[ld->cfg.nr_vms], 0, sizeof(ld->lines[0]));
	ld->lines[ld->cfg.nr_vms].header = ld->lineno;
	ld->cfg.nr_vms++;
	ld->section = SECTION_VM;
	vm_label(vm, ld->label, sizeof(ld->label));
}

/* [host] and [export] once each: a second one is a paste accident, not a merge. */
static void single_begin(struct loader *ld, enum section section, int *header, const char *label)
{
	if (*header) {
		fail(ld, ld->lineno, "%s: duplicate section (first on line %d)", label, *header);
		return;
	}
	*header = ld->lineno;
	ld->section = section;
	snprintf(ld->label, sizeof(ld->label), "%s", label);
}

static void section_begin(struct loader *ld, char *s)
{
	char *close = strchr(s, ']'), *name;
	const char *rest;

	if (!close) {
		fail(ld, ld->lineno,
		     "%s: no closing ]; sections are [host], [vm NAME] and [export]", trim(s));
		return;
	}
	rest = skip_space(close + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		fail(ld, ld->lineno,
		     "%s: text after the section header; a key goes on a line "
		     "of its own",
		     trim(s));
		return;
	}
	*close = '\0';
	name = trim(s + 1);
	section_end(ld);
	if (ld->err)
		return;
	if (!strcmp(name, "host"))
		single_begin(ld, SECTION_HOST, &ld->host_header, "[host]");
	else if (!strcmp(name, "export"))
		single_begin(ld, SECTION_EXPORT, &ld->export_header, "[export]");
	else if (!strcmp(name, "vm"))
		fail(ld, ld->lineno, "[vm]: a VM section needs a name: [vm NAME]");
	else if (!strncmp(name, "vm", 2) && isspace((unsigned char)name[2]))
		vm_begin(ld, trim(name + 2));
	else
		fail(ld, ld->lineno, "[%s]: unknown section; allowed: [host], [vm NAME], [export]",
		     name);
}

/* inih's test for a key line: '=' or ':' before any inline comment. */
static bool has_separator(const char *s)
{
	bool was_space = false;

	for (; *s; s++) {
		if (*s == '=' || *s == ':')
			return true;
		if (was_space && *s == ';')
			return false;
		was_space = isspace((unsigned char)*s);
	}
	return false;
}

/* inih ends a value at " ;"; operators write " #" as often: end it there too. */
static void cut_hash_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if (*p == '#' && p > s && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
	}
}

static char *empty_line(char *str)
{
	str[0] = '\n';
	str[1] = '\0';
	return str;
}

static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	char *s;
	size_t len;
	ssize_t n;

	if (ld->err)
		return NULL;
	errno = 0;
	n = getline(&ld->buf, &ld->buf_cap, ld->f);
	if (n < 0) {
		if (ferror(ld->f) || errno == ENOMEM)
			fail_errno(ld, errno ? -errno : -EIO);
		return NULL;
	}
	ld->lineno++;
	if (strlen(ld->buf) != (size_t)n) {
		fail(ld, ld->lineno, "a NUL byte: not a text file");
		return NULL;
	}
	s = ld->buf;
	if (ld->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3; /* a UTF-8 byte order mark, as some editors write */
	s += strspn(s, " \t\r\n\v\f");
	if (!*s || *s == ';' || *s == '#')
		return empty_line(str);
	if (*s == '[') {
		section_begin(ld, s);
		return ld->err ? NULL : empty_line(str);
	}
	cut_hash_comment(s);
	if (!has_separator(s)) {
		fail(ld, ld->lineno, "%s%s%s: not a key = value line, a [section] or a comment",
		     ld->label, *ld->label ? " " : "", trim(s));
		return NULL;
	}
	len = strlen(s);
	if (len + 1 > (size_t)num) {
		/* inih would cut it in two: refuse it whole, naming the key it sets */
		fail(ld, ld->lineno, "%s%s%.*s: line longer than %d characters", ld->label,
		     *ld->label ? " " : "", (int)strcspn(s, " \t=:"), s, num - 2);
		return NULL;
	}
	memcpy(str, s, len + 1);
	return str;
}

/* After the last line: what needs [host], wherever it was in the file. */
static void load_end(struct loader *ld)
{
	struct config_host *h = &ld->cfg.host;
	struct problem p;

	if (!ld->host_lines[HOST_ENFORCERS] && !h->numa_spanning)
		h->enforcers |= CONFIG_ENFORCE_NUMA;
	for (size_t i = 0; i < ld->cfg.nr_vms; i++) {
		struct config_vm *vm = &ld->cfg.vms[i];
		const struct vm_lines *l = &ld->lines[i];

		if (vm_check_host(vm, h, &p)) {
			fail(ld, p.key >= 0 && l->key[p.key] ? l->key[p.key] : l->header, "%s",
			     p.msg);
			return;
		}
		if (!vm->enforcers_set)
			vm->enforcers = inherited_enforcers(vm, h);
	}
}

static void host_defaults(struct config_host *h)
{
	memset(h, 0, sizeof(*h));
	h->reserve_auto = true;
	h->numa_spanning = true;
	h->interval_ms = CONFIG_DEFAULT_INTERVAL_MS;
	h->enforcers = CONFIG_ENFORCE_CGROUP | CONFIG_ENFORCE_BALLOON;
	snprintf(h->control_socket, sizeof(h->control_socket), "%s", CONFIG_DEFAULT_SOCKET);
	snprintf(h->state_dir, sizeof(h->state_dir), "%s", CONFIG_DEFAULT_STATE_DIR);
}

int config_load(const char *path, struct config *ret, char *err, size_t errlen)
{
	struct loader ld = { .path = path, .errbuf = err, .errlen = errlen };
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !ret) {
		ld.err = -EINVAL;
		say(err, errlen, "config_load: no path or result");
		goto out;
	}
	ld.f = fopen(path, "re");
	if (!ld.f) {
		ld.err = -errno;
		say(err, errlen, "%s: cannot open: %s", path, strerror(-ld.err));
		goto out;
	}
	host_defaults(&ld.cfg.host);

	r = ini_parse_stream(read_line, &ld, on_key, &ld);
	if (r == -2)
		fail_errno(&ld, -ENOMEM);
	else if (r > 0) /* our reader checks what inih checks: this would be a gap in it */
		fail(&ld, r, "not a key = value line");
	if (!ld.err)
		section_end(&ld);
	if (!ld.err)
		load_end(&ld);
out:
	if (ld.f)
		fclose(ld.f);
	free(ld.buf);
	free(ld.lines);
	if (ld.err)
		free(ld.cfg.vms);
	else
		*ret = ld.cfg;
	return ld.err;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->vms);
	c->vms = NULL;
	c->nr_vms = 0;
}
