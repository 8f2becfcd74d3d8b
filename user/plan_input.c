// SPDX-License-Identifier: GPL-2.0-only
/*
 * `dynmem plan` scenarios: JSON in, struct plan_input out. Strict on purpose: a scenario is
 * written by hand for capacity planning, and a typo that silently fell back to a default
 * ("weigth": 9000) would plan something else than what the operator asked. So unknown keys,
 * wrong types and values outside the documented ranges are all refused, with the key, the
 * VM and what is allowed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "plan_input.h"
#include "size.h"

#define MAX_FILE_BYTES (64 << 20)
#define NS_PER_S       1000000000ULL
#define MAX_SECONDS    18000000000.0 /* 2^64 ns is 584 years: far enough */

/* Where in the scenario a value is, for messages: "host", `vms[2] "db"`. */
struct where {
	char at[PLAN_NAME_MAX + 32];
	char *err;
	size_t errlen;
};

/* One key a line reads better than columns. */
/* clang-format off */
static const char *const host_keys[] = {
	"budget",
	"numa_spanning",
	"nodes",
	"now_s",
	"shrink_interval_s",
	"shrink_step_pct",
	"hysteresis_pct",
	NULL,
};

static const char *const vm_keys[] = {
	"name",
	"startup",
	"minimum",
	"maximum",
	"buffer",
	"weight",
	"demand",
	"assigned",
	"node",
	"pressure",
	"last_shrink_s",
	"granule",
	NULL,
};
/* clang-format on */

__attribute__((format(printf, 2, 3))) static int fail(const struct where *w, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (w->at[0])
		n = (size_t)snprintf(w->err, w->errlen, "%s: ", w->at);
	if (n < w->errlen) {
		va_start(ap, fmt);
		vsnprintf(w->err + n, w->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool known(const char *const *keys, const char *key)
{
	for (; *keys; keys++)
		if (!strcmp(*keys, key))
			return true;
	return false;
}

/* Refuses keys outside the list: a misspelt key must not quietly become a default. */
static int check_keys(const struct where *w, json_object *obj, const char *const *keys)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	char list[256] = "";

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);

		if (known(keys, key))
			continue;
		for (const char *const *k = keys; *k; k++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 k == keys ? "" : ", ", *k);
		return fail(w, "unknown key \"%s\" (known: %s)", key, list);
	}
	return 0;
}

static const char *type_name(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
	case json_type_int:
		return "a number";
	case json_type_string:
		return "a string";
	case json_type_array:
		return "an array";
	case json_type_object:
		return "an object";
	}
	return "?";
}

/* A whole number >= 0 from an int, or a double with nothing after the point. */
static bool whole_number(json_object *v, __u64 *ret)
{
	double d;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return false;
		*ret = json_object_get_uint64(v);
		return true;
	}
	if (!json_object_is_type(v, json_type_double))
		return false;
	d = json_object_get_double(v);
	if (!(d >= 0 && d < 18446744073709551616.0) || d != floor(d))
		return false;
	*ret = (__u64)d;
	return true;
}

/* Sizes: "4G", "512M", "1.5G", or a number of bytes. */
static int get_size(const struct where *w, json_object *obj, const char *key, __u64 *ret)
{
	json_object *v = json_object_object_get(obj, key);
	int err;

	if (json_object_is_type(v, json_type_string)) {
		err = size_parse(json_object_get_string(v), ret);
		if (err == -ERANGE)
			return fail(w, "%s \"%s\" is too large", key, json_object_get_string(v));
		if (err)
			return fail(w,
				    "%s \"%s\" is not a size (bytes, or a number with K, M, "
				    "G or T: \"512M\", \"1.5G\")",
				    key, json_object_get_string(v));
		return 0;
	}
	if (whole_number(v, ret))
		return 0;
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
		return fail(w, "%s %s is not a size: give whole bytes, or a string like \"4G\"",
			    key, json_object_to_json_string(v));
	return fail(w, "%s is %s; give a size: bytes, or a string like \"4G\"", key, type_name(v));
}

static int get_int(const struct where *w, json_object *obj, const char *key, long long min,
		   long long max, long long *ret)
{
	json_object *v = json_object_object_get(obj, key);
	long long n;

	if (json_object_is_type(v, json_type_double) &&
	    json_object_get_double(v) == floor(json_object_get_double(v)) &&
	    fabs(json_object_get_double(v)) < 9e15)
		n = (long long)json_object_get_double(v);
	else if (json_object_is_type(v, json_type_int))
		n = json_object_get_int64(v);
	else
		return fail(w, "%s is %s; give a whole number in %lld..%lld", key,
			    json_object_is_type(v, json_type_double) ? "not a whole number"
								     : type_name(v),
			    min, max);
	if (n < min || n > max)
		return fail(w, "%s %s is outside %lld..%lld", key, json_object_to_json_string(v),
			    min, max);
	*ret = n;
	return 0;
}

static int get_bool(const struct where *w, json_object *obj, const char *key, bool *ret)
{
	json_object *v = json_object_object_get(obj, key);

	if (!json_object_is_type(v, json_type_boolean))
		return fail(w, "%s is %s; give true or false", key, type_name(v));
	*ret = json_object_get_boolean(v);
	return 0;
}

/* Seconds, whole or not, into nanoseconds. */
static int get_seconds(const struct where *w, json_object *obj, const char *key, __u64 *ret)
{
	json_object *v = json_object_object_get(obj, key);
	double s;

	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return fail(w, "%s is %s; give a number of seconds", key, type_name(v));
	s = json_object_get_double(v);
	if (!(s >= 0 && s <= MAX_SECONDS))
		return fail(w, "%s %s is outside 0..%.0f seconds", key,
			    json_object_to_json_string(v), MAX_SECONDS);
	if (json_object_is_type(v, json_type_int))
		*ret = (__u64)json_object_get_int64(v) * NS_PER_S;
	else
		*ret = (__u64)llround(s * 1e9);
	return 0;
}

static bool has(json_object *obj, const char *key)
{
	return json_object_object_get_ex(obj, key, NULL);
}

static int parse_nodes(const struct where *w, json_object *nodes, struct alloc_host *h)
{
	size_t n;
	int err;

	if (!json_object_is_type(nodes, json_type_array))
		return fail(w, "nodes is %s; give an array of node budgets: [\"6G\", \"6G\"]",
			    type_name(nodes));
	n = json_object_array_length(nodes);
	if (!n || n > ALLOC_MAX_NODES)
		return fail(w, "nodes has %zu entries; give 1..%d node budgets", n,
			    ALLOC_MAX_NODES);
	for (size_t i = 0; i < n; i++) {
		json_object *wrap = json_object_new_object();
		char key[32];

		/* get_size() wants an object and a key: the element, under its own name. */
		if (!wrap)
			return -ENOMEM;
		snprintf(key, sizeof(key), "nodes[%zu]", i);
		json_object_object_add(wrap, key,
				       json_object_get(json_object_array_get_idx(nodes, i)));
		err = get_size(w, wrap, key, &h->node_budget_bytes[i]);
		json_object_put(wrap);
		if (err)
			return err;
	}
	h->nr_nodes = n;
	return 0;
}

static int parse_host(struct where *w, json_object *host, struct alloc_host *h)
{
	long long n;
	int err;

	snprintf(w->at, sizeof(w->at), "host");
	if (!json_object_is_type(host, json_type_object))
		return fail(w, "is %s; give an object: {\"budget\": \"12G\"}", type_name(host));
	err = check_keys(w, host, host_keys);
	if (!err && has(host, "numa_spanning"))
		err = get_bool(w, host, "numa_spanning", &h->numa_spanning);
	if (!err && has(host, "nodes"))
		err = parse_nodes(w, json_object_object_get(host, "nodes"), h);
	if (!err && !h->numa_spanning && !h->nr_nodes)
		err = fail(w, "numa_spanning is false: give the budget of each node in nodes");
	if (err)
		return err;
	if (has(host, "budget"))
		err = get_size(w, host, "budget", &h->budget_bytes);
	else if (h->numa_spanning)
		err = fail(w, "budget is missing: the memory the VMs may have, after the host's "
			      "reserve and the VMs' own overhead");
	else
		for (size_t i = 0; i < h->nr_nodes; i++)
			h->budget_bytes += h->node_budget_bytes[i];
	if (!err && has(host, "now_s"))
		err = get_seconds(w, host, "now_s", &h->now_ns);
	if (!err && has(host, "shrink_interval_s"))
		err = get_seconds(w, host, "shrink_interval_s", &h->shrink_interval_ns);
	if (!err && has(host, "shrink_step_pct") &&
	    !(err = get_int(w, host, "shrink_step_pct", 1, 100, &n)))
		h->shrink_step_pct = (__u32)n;
	if (!err && has(host, "hysteresis_pct") &&
	    !(err = get_int(w, host, "hysteresis_pct", 0, 100, &n)))
		h->hysteresis_pct = (__u32)n;
	return err;
}

static int parse_name(struct where *w, json_object *vm, size_t i, char *ret)
{
	json_object *v = json_object_object_get(vm, "name");
	const char *name;
	size_t len;

	snprintf(w->at, sizeof(w->at), "vms[%zu]", i);
	if (!v)
		return fail(w, "name is missing");
	if (!json_object_is_type(v, json_type_string))
		return fail(w, "name is %s; give a string", type_name(v));
	name = json_object_get_string(v);
	len = strlen(name);
	if (!len || len >= PLAN_NAME_MAX || len != (size_t)json_object_get_string_len(v))
		return fail(w, "name must be 1..%d bytes", PLAN_NAME_MAX - 1);
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)name[k] < 0x20 || name[k] == 0x7f)
			return fail(w, "name has a control character");
	memcpy(ret, name, len + 1);
	snprintf(w->at, sizeof(w->at), "vms[%zu] \"%s\"", i, name);
	return 0;
}

/* The sizes of a VM, with their defaults: minimum = startup, assigned = startup or minimum. */
static int parse_vm_sizes(const struct where *w, json_object *vm, struct alloc_vm *v)
{
	char a[32], b[32], c[32];
	__u64 startup = 0;
	int err = 0;

	if (has(vm, "startup"))
		err = get_size(w, vm, "startup", &startup);
	if (!err && has(vm, "minimum"))
		err = get_size(w, vm, "minimum", &v->minimum_bytes);
	else if (!err && has(vm, "startup"))
		v->minimum_bytes = startup;
	else if (!err)
		err = fail(w, "minimum is missing (it defaults to startup, which is missing too)");
	if (!err && !has(vm, "maximum"))
		err = fail(w, "maximum is missing: the most it may ever have (QEMU's -m)");
	if (!err)
		err = get_size(w, vm, "maximum", &v->maximum_bytes);
	if (!err && v->minimum_bytes > v->maximum_bytes)
		err = fail(w, "minimum %s is above maximum %s",
			   size_format(a, sizeof(a), v->minimum_bytes),
			   size_format(b, sizeof(b), v->maximum_bytes));
	if (!err && has(vm, "startup") &&
	    (startup < v->minimum_bytes || startup > v->maximum_bytes))
		err = fail(w, "startup %s is outside minimum..maximum (%s..%s)",
			   size_format(a, sizeof(a), startup),
			   size_format(b, sizeof(b), v->minimum_bytes),
			   size_format(c, sizeof(c), v->maximum_bytes));
	if (!err && !has(vm, "demand"))
		err = fail(w, "demand is missing: what the guest needs now");
	if (!err)
		err = get_size(w, vm, "demand", &v->demand_bytes);
	if (!err && has(vm, "assigned"))
		err = get_size(w, vm, "assigned", &v->assigned_bytes);
	else if (!err)
		v->assigned_bytes = has(vm, "startup") ? startup : v->minimum_bytes;
	if (!err && has(vm, "granule"))
		err = get_size(w, vm, "granule", &v->granule_bytes);
	if (!err && has(vm, "granule") &&
	    (v->granule_bytes < 4096 || (v->granule_bytes & (v->granule_bytes - 1))))
		err = fail(w,
			   "granule %s is not a page size: give a power of two from 4K "
			   "(4K, 2M, 1G)",
			   size_format(a, sizeof(a), v->granule_bytes));
	return err;
}

/* -1 (no node, or spanning) or one of host.nodes. */
static int parse_node(const struct where *w, json_object *vm, const struct alloc_host *h, int *ret)
{
	long long n;
	int err = get_int(w, vm, "node", -1, h->nr_nodes ? (long long)h->nr_nodes - 1 : LLONG_MAX,
			  &n);

	if (!err && n >= 0 && !h->nr_nodes)
		err = fail(w,
			   "node %lld: the host lists no nodes (host.nodes), so -1 is the "
			   "only one",
			   n);
	if (!err)
		*ret = (int)n;
	return err;
}

static int parse_vm(struct where *w, json_object *vm, size_t i, const struct alloc_host *h,
		    struct alloc_vm *v, char *name)
{
	long long n;
	int err;

	snprintf(w->at, sizeof(w->at), "vms[%zu]", i);
	if (!json_object_is_type(vm, json_type_object))
		return fail(w, "is %s; give an object: {\"name\": \"web\", ...}", type_name(vm));
	err = parse_name(w, vm, i, name);
	if (!err)
		err = check_keys(w, vm, vm_keys);
	if (!err)
		err = parse_vm_sizes(w, vm, v);
	v->buffer_pct = 20;
	v->weight = 5000;
	v->node = -1;
	if (!err && has(vm, "buffer") &&
	    !(err = get_int(w, vm, "buffer", ALLOC_BUFFER_MIN_PCT, ALLOC_BUFFER_MAX_PCT, &n)))
		v->buffer_pct = (__u32)n;
	if (!err && has(vm, "weight") && !(err = get_int(w, vm, "weight", 0, ALLOC_WEIGHT_MAX, &n)))
		v->weight = (__u32)n;
	if (!err && has(vm, "node"))
		err = parse_node(w, vm, h, &v->node);
	if (!err && has(vm, "pressure"))
		err = get_bool(w, vm, "pressure", &v->pressure);
	if (!err && has(vm, "last_shrink_s"))
		err = get_seconds(w, vm, "last_shrink_s", &v->last_shrink_ns);
	if (!err && v->last_shrink_ns > h->now_ns)
		err = fail(w, "last_shrink_s %.3f is after host.now_s %.3f",
			   (double)v->last_shrink_ns / 1e9, (double)h->now_ns / 1e9);
	return err;
}

struct name_ref {
	const char *name;
	size_t i;
};

static int cmp_name_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * VM names are the rows of the output: two alike would be a plan nobody can read. Sorted,
 * so that 100,000 VMs don't take 10^10 comparisons; the first clash in file order wins.
 */
static int check_names(struct where *w, const struct plan_input *in)
{
	struct name_ref *refs = calloc(in->nr_vms + 1, sizeof(*refs));
	size_t later = SIZE_MAX, earlier = 0;

	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < in->nr_vms; i++)
		refs[i] = (struct name_ref){ in->names[i], i };
	qsort(refs, in->nr_vms, sizeof(*refs), cmp_name_ref);
	for (size_t k = 1; k < in->nr_vms; k++)
		if (!strcmp(refs[k].name, refs[k - 1].name) && refs[k].i < later &&
		    (k < 2 || strcmp(refs[k].name, refs[k - 2].name))) {
			later = refs[k].i;
			earlier = refs[k - 1].i;
		}
	free(refs);
	if (later == SIZE_MAX)
		return 0;
	snprintf(w->at, sizeof(w->at), "vms[%zu] \"%s\"", later, in->names[later]);
	return fail(w, "name already used by vms[%zu]", earlier);
}

static int parse_root(struct where *w, json_object *root, struct plan_input *in)
{
	static const char *const root_keys[] = { "host", "vms", NULL };
	json_object *vms;
	int err;

	w->at[0] = '\0';
	if (!json_object_is_type(root, json_type_object))
		return fail(w, "the scenario is %s; give an object with \"host\" and \"vms\"",
			    type_name(root));
	err = check_keys(w, root, root_keys);
	if (!err && !has(root, "host"))
		err = fail(w, "\"host\" is missing");
	if (!err && !has(root, "vms"))
		err = fail(w, "\"vms\" is missing");
	if (!err)
		err = parse_host(w, json_object_object_get(root, "host"), &in->host);
	if (err)
		return err;
	vms = json_object_object_get(root, "vms");
	w->at[0] = '\0';
	if (!json_object_is_type(vms, json_type_array))
		return fail(w, "\"vms\" is %s; give an array of VMs", type_name(vms));
	in->nr_vms = json_object_array_length(vms);
	in->vms = calloc(in->nr_vms + 1, sizeof(*in->vms));
	in->names = calloc(in->nr_vms + 1, sizeof(*in->names));
	if (!in->vms || !in->names)
		return -ENOMEM;
	for (size_t i = 0; i < in->nr_vms && !err; i++)
		err = parse_vm(w, json_object_array_get_idx(vms, i), i, &in->host, &in->vms[i],
			       in->names[i]);
	if (!err)
		err = check_names(w, in);
	return err;
}

/* "line 3, column 14" of offset off in text. */
static void position(const char *text, size_t off, size_t *ret_line, size_t *ret_col)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < off; i++) {
		col++;
		if (text[i] == '\n') {
			line++;
			col = 1;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

static int parse_json(const char *text, size_t len, json_object **ret, char *err, size_t errlen)
{
	json_tokener *tok = json_tokener_new();
	enum json_tokener_error e;
	json_object *root = NULL;
	size_t end = 0, line, col;
	int rc = 0;

	if (!tok)
		return -ENOMEM;
	if (len > INT_MAX) {
		snprintf(err, errlen, "the scenario is larger than 2G");
		rc = -EINVAL;
		goto out;
	}
	root = json_tokener_parse_ex(tok, text, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	while (e == json_tokener_success && end < len &&
	       (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' || text[end] == '\r'))
		end++;
	if (e == json_tokener_continue || (!root && e == json_tokener_success)) {
		position(text, len, &line, &col);
		snprintf(err, errlen,
			 "line %zu, column %zu: the JSON ends early (a bracket or a "
			 "quote not closed?)",
			 line, col);
		rc = -EINVAL;
	} else if (e != json_tokener_success) {
		position(text, end, &line, &col);
		snprintf(err, errlen, "line %zu, column %zu: %s", line, col,
			 json_tokener_error_desc(e));
		rc = -EINVAL;
	} else if (end < len) {
		position(text, end, &line, &col);
		snprintf(err, errlen, "line %zu, column %zu: more text after the scenario's object",
			 line, col);
		rc = -EINVAL;
	}
out:
	json_tokener_free(tok);
	if (rc)
		json_object_put(root);
	else
		*ret = root;
	return rc;
}

void plan_input_free(struct plan_input *in)
{
	if (!in)
		return;
	free(in->vms);
	free(in->names);
	in->vms = NULL;
	in->names = NULL;
	in->nr_vms = 0;
}

int plan_input_parse(const char *text, size_t len, struct plan_input *ret, char *err, size_t errlen)
{
	struct where w = { .err = err, .errlen = errlen };
	struct plan_input in = { 0 };
	json_object *root = NULL;
	int rc;

	if (errlen)
		err[0] = '\0';
	alloc_host_defaults(&in.host);
	rc = parse_json(text, len, &root, err, errlen);
	if (rc)
		goto out;
	rc = parse_root(&w, root, &in);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	json_object_put(root);
	if (rc)
		plan_input_free(&in);
	else
		*ret = in;
	return rc;
}

/* The whole of fd, NUL-terminated; -EFBIG past MAX_FILE_BYTES. */
static int read_all(int fd, char **ret_buf, size_t *ret_len)
{
	size_t len = 0, cap = 64 << 10;
	char *buf = malloc(cap), *bigger;
	int err = 0;

	while (buf) {
		ssize_t n;

		if (len + 1 == cap) {
			if (cap >= MAX_FILE_BYTES) {
				err = -EFBIG;
				goto out;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (!n) {
			buf[len] = '\0';
			*ret_buf = buf;
			*ret_len = len;
			return 0;
		}
		len += (size_t)n;
	}
	err = -ENOMEM;
out:
	free(buf);
	return err;
}

int plan_input_load(const char *path, struct plan_input *ret, char *err, size_t errlen)
{
	bool std_in = !strcmp(path, "-");
	int fd = std_in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	char *text = NULL, msg[512];
	size_t len = 0;
	int rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		goto out;
	}
	rc = read_all(fd, &text, &len);
	if (rc == -EFBIG)
		snprintf(err, errlen, "%s: larger than %d MiB; this is not a scenario", path,
			 MAX_FILE_BYTES >> 20);
	else if (rc)
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
	if (rc)
		goto out;
	rc = plan_input_parse(text, len, ret, msg, sizeof(msg));
	/* Syntax errors point into the file: name it. The rest names its key and VM. */
	if (rc && !strncmp(msg, "line ", 5))
		snprintf(err, errlen, "%s: %s", std_in ? "<stdin>" : path, msg);
	else if (rc)
		snprintf(err, errlen, "%s", msg);
out:
	if (fd >= 0 && !std_in)
		close(fd);
	free(text);
	return rc;
}
