// SPDX-License-Identifier: GPL-2.0-only
/*
 * QMP client (see qmp.h). QEMU's monitor speaks newline-delimited JSON objects, but a read can
 * end anywhere in one, so bytes go through one json_tokener that keeps the half-parsed message
 * between reads; the message size is bounded so a runaway QEMU can't grow us without limit.
 * Every command carries an id, because events can arrive between a command and its reply.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <json-c/json.h>
#include "qmp.h"

#define QMP_READ_CHUNK_BYTES 16384
/* Reads per qmp_on_readable(): one chatty QEMU must not starve the others in the loop. */
#define QMP_READS_PER_CALL 8
#define QMP_QOM_PATH_MAX   512
#define NSEC_PER_MSEC	   1000000ULL

enum qmp_cmd_kind {
	CMD_PLAIN,
	CMD_CAPABILITIES, /* the handshake's own; its reply moves the state machine */
	CMD_BALLOON_INFO,
	CMD_GUEST_STATS,
};

union qmp_cmd_fn {
	qmp_reply_fn reply;
	qmp_balloon_info_fn balloon_info;
	qmp_guest_stats_fn guest_stats;
};

struct qmp_cmd {
	struct qmp_cmd *next;
	__u64 id;
	__u64 deadline_ns;
	__u64 timeout_ns;
	char *name;
	char *line; /* serialized, until it moves to the output buffer (at ready) */
	size_t line_len;
	bool expired;
	enum qmp_cmd_kind kind;
	union qmp_cmd_fn fn;
	void *ctx;
};

struct qmp {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	enum qmp_state state;
	unsigned int session; /* bumped when a session ends: a dispatch loop must then stop */
	int end_err;	      /* why the last session ended */
	bool freeing;
	json_tokener *tok;
	size_t msg_bytes; /* of the message being parsed; 0 between messages */
	char quote[QMP_GARBAGE_QUOTE_BYTES];
	size_t quote_len;
	char *out;
	size_t out_off, out_len, out_cap;
	size_t unsent_bytes; /* commands waiting for the handshake to end */
	int write_err;	     /* a failed send(), dealt with by the next entry point */
	struct qmp_cmd *pending, **pending_tail;
	__u64 next_id;
	__u64 handshake_deadline_ns;
	__u64 handshake_timeout_ns;
	qmp_event_fn event_fn;
	void *event_ctx;
	char version[128];
	char last_error[512];
	char rbuf[QMP_READ_CHUNK_BYTES];
};

static const char *const state_names[] = {
	[QMP_DISCONNECTED] = "disconnected",
	[QMP_CONNECTING] = "connecting",
	[QMP_GREETING] = "greeting",
	[QMP_NEGOTIATING] = "negotiating",
	[QMP_READY] = "ready",
	[QMP_BROKEN] = "broken",
};

__attribute__((format(printf, 2, 3))) static void set_error(struct qmp *q, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(q->last_error, sizeof(q->last_error), "%s: ", q->path);
	if (n < 0 || (size_t)n >= sizeof(q->last_error))
		return;
	va_start(ap, fmt);
	vsnprintf(q->last_error + n, sizeof(q->last_error) - n, fmt, ap);
	va_end(ap);
}

static void cmd_free(struct qmp_cmd *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->line);
	free(c);
}

/* Hands a command's outcome to its owner, in the shape its wrapper promised. */
static void deliver(struct qmp *q, struct qmp_cmd *c, struct qmp_reply *r)
{
	struct qmp_guest_stats stats;
	__u64 actual_bytes = 0;

	r->command = c->name;
	switch (c->kind) {
	case CMD_PLAIN:
		if (c->fn.reply)
			c->fn.reply(q, r, c->ctx);
		break;
	case CMD_BALLOON_INFO:
		if (!r->err && qmp_parse_balloon_info(r->ret, &actual_bytes)) {
			r->err = -EBADMSG;
			r->error_desc = "query-balloon returned no \"actual\"";
		}
		if (c->fn.balloon_info)
			c->fn.balloon_info(q, r, actual_bytes, c->ctx);
		break;
	case CMD_GUEST_STATS:
		if (!r->err && qmp_parse_guest_stats(r->ret, &stats)) {
			r->err = -EBADMSG;
			r->error_desc = "guest-stats returned no \"stats\" object";
		}
		if (c->fn.guest_stats)
			c->fn.guest_stats(q, r, r->err ? NULL : &stats, c->ctx);
		break;
	case CMD_CAPABILITIES:
		break;
	}
}

/*
 * Ends the session: no socket, no half-parsed message, nothing left to send, and every
 * pending command answered once (-ETIMEDOUT if it expired, else -ECONNRESET, or -ECANCELED
 * when the owner asked). State and lists are reset before any callback runs, so a callback
 * may reconnect.
 */
static void end_session(struct qmp *q, enum qmp_state state, int err, const char *desc)
{
	struct qmp_cmd *list = q->pending, *c;
	int pending_err = err == -ECANCELED ? -ECANCELED : -ECONNRESET;
	char why[sizeof(q->last_error)];
	struct qmp_reply r;

	/* a callback may overwrite last_error (say, a failed reconnect) while others still run */
	snprintf(why, sizeof(why), "%s", desc);
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	q->state = state;
	q->session++;
	q->end_err = err;
	json_tokener_reset(q->tok);
	q->msg_bytes = 0;
	q->quote_len = 0;
	q->out_off = q->out_len = 0;
	q->unsent_bytes = 0;
	q->write_err = 0;
	q->pending = NULL;
	q->pending_tail = &q->pending;
	while ((c = list)) {
		list = c->next;
		r = (struct qmp_reply){ .err = c->expired ? -ETIMEDOUT : pending_err,
					.error_desc = why };
		deliver(q, c, &r);
		cmd_free(c);
	}
}

/* The start of a bad message, printable, for an operator to recognize; true if cut short. */
static bool format_quote(const struct qmp *q, char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < q->quote_len && n + 1 < len; i++) {
		unsigned char ch = (unsigned char)q->quote[i];

		if (ch == '\n' || ch == '\r')
			break;
		buf[n++] = isprint(ch) ? (char)ch : '.';
	}
	buf[n] = '\0';
	return i == QMP_GARBAGE_QUOTE_BYTES;
}

/* QEMU said something we can't follow: nothing after it can be trusted. */
__attribute__((format(printf, 3, 4))) static void on_garbage(struct qmp *q, int err,
							     const char *fmt, ...)
{
	char quote[QMP_GARBAGE_QUOTE_BYTES + 1], reason[160];
	bool cut = format_quote(q, quote, sizeof(quote));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (cut)
		set_error(q, "garbage from QEMU: '%s...' (first %d bytes): %s; dropped the session",
			  quote, QMP_GARBAGE_QUOTE_BYTES, reason);
	else
		set_error(q, "garbage from QEMU: '%s': %s; dropped the session", quote, reason);
	end_session(q, QMP_BROKEN, err, q->last_error);
}

static int out_append(struct qmp *q, const char *s, size_t len)
{
	size_t queued = q->out_len - q->out_off, cap;
	int err = 0;
	char *p;

	if (q->out_off) {
		memmove(q->out, q->out + q->out_off, queued);
		q->out_off = 0;
		q->out_len = queued;
	}
	if (queued + len > q->out_cap) {
		cap = q->out_cap ? q->out_cap : 4096;
		while (cap < queued + len)
			cap *= 2;
		p = realloc(q->out, cap);
		if (!p) {
			err = -ENOMEM;
			goto out;
		}
		q->out = p;
		q->out_cap = cap;
	}
	memcpy(q->out + q->out_len, s, len);
	q->out_len += len;
out:
	return err;
}

/* Writes what the socket takes now; an error waits for the next entry point to end things. */
static void flush(struct qmp *q)
{
	ssize_t n;

	while (q->fd >= 0 && q->state != QMP_CONNECTING && !q->write_err &&
	       q->out_off < q->out_len) {
		n = send(q->fd, q->out + q->out_off, q->out_len - q->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				q->write_err = -errno;
			break;
		}
		q->out_off += (size_t)n;
	}
	if (q->out_off == q->out_len)
		q->out_off = q->out_len = 0;
}

/* Write errors, the handshake deadline and command deadlines; 0 or why the session ended. */
static int expire(struct qmp *q, __u64 now_ns)
{
	struct qmp_cmd *c, *late = NULL;
	int err = 0;

	if (q->write_err) {
		err = q->write_err;
		set_error(q, "write to QEMU failed: %s", strerror(-err));
		end_session(q, QMP_DISCONNECTED, -ECONNRESET, q->last_error);
		err = -ECONNRESET;
		goto out;
	}
	if ((q->state == QMP_CONNECTING || q->state == QMP_GREETING) &&
	    now_ns >= q->handshake_deadline_ns) {
		set_error(q,
			  "no QMP greeting within %llu ms (QEMU hung, or another client holds its "
			  "monitor?)",
			  (unsigned long long)(q->handshake_timeout_ns / NSEC_PER_MSEC));
		err = -ETIMEDOUT;
		end_session(q, QMP_BROKEN, err, q->last_error);
		goto out;
	}
	for (c = q->pending; c; c = c->next) {
		if (now_ns < c->deadline_ns)
			continue;
		c->expired = true;
		if (!late)
			late = c;
	}
	if (!late)
		goto out;
	/* a reply that comes after we gave up would be matched to nothing: start afresh */
	set_error(q, "no reply to %s within %llu ms (QEMU hung?); dropped the session", late->name,
		  (unsigned long long)(late->timeout_ns / NSEC_PER_MSEC));
	err = -ETIMEDOUT;
	end_session(q, QMP_BROKEN, err, q->last_error);
out:
	return err;
}

/* Adds val (NULL: its constructor failed) to obj, or drops it. */
static int json_add(json_object *obj, const char *key, json_object *val)
{
	int err = 0;

	if (!val || json_object_object_add(obj, key, val)) {
		json_object_put(val);
		err = -ENOMEM;
	}
	return err;
}

/* Serializes one command into a new string ending in "\n". */
static int format_cmd(const char *name, json_object **args, __u64 id, char **ret_line,
		      size_t *ret_len)
{
	json_object *msg = json_object_new_object();
	const char *text;
	char *line;
	size_t len;
	int err;

	if (!msg) {
		err = -ENOMEM;
		goto out;
	}
	err = json_add(msg, "execute", json_object_new_string(name));
	if (!err && *args) {
		err = json_add(msg, "arguments", *args);
		*args = NULL; /* json_add took it, also on failure */
	}
	if (!err)
		err = json_add(msg, "id", json_object_new_int64((int64_t)id));
	if (err)
		goto out;
	/* plain slashes keep QOM paths readable in a strace or a transcript */
	text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	len = text ? strlen(text) : 0;
	line = text ? malloc(len + 2) : NULL;
	if (!line) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(line, text, len);
	line[len++] = '\n';
	line[len] = '\0';
	*ret_line = line;
	*ret_len = len;
out:
	json_object_put(msg);
	return err;
}

static int send_cmd(struct qmp *q, const char *name, json_object *args, enum qmp_cmd_kind kind,
		    union qmp_cmd_fn fn, void *ctx, __u64 timeout_ns, __u64 deadline_ns)
{
	bool now = q->state == QMP_READY || kind == CMD_CAPABILITIES;
	struct qmp_cmd *c = NULL;
	int err;

	if (!name || !*name || !timeout_ns ||
	    (args && !json_object_is_type(args, json_type_object))) {
		err = -EINVAL;
		goto out;
	}
	if (q->fd < 0 || q->state == QMP_DISCONNECTED || q->state == QMP_BROKEN) {
		err = -ENOTCONN;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(name))) {
		err = -ENOMEM;
		goto out;
	}
	c->id = q->next_id++;
	err = format_cmd(name, &args, c->id, &c->line, &c->line_len);
	if (err)
		goto out;
	if (q->out_len - q->out_off + q->unsent_bytes + c->line_len > QMP_MAX_MSG_BYTES) {
		err = -ENOBUFS;
		goto out;
	}
	if (now) {
		err = out_append(q, c->line, c->line_len);
		if (err)
			goto out;
		free(c->line);
		c->line = NULL;
	} else {
		q->unsent_bytes += c->line_len;
	}
	c->kind = kind;
	c->fn = fn;
	c->ctx = ctx;
	c->timeout_ns = timeout_ns;
	c->deadline_ns = deadline_ns;
	*q->pending_tail = c;
	q->pending_tail = &c->next;
	c = NULL;
	if (now)
		flush(q);
out:
	json_object_put(args);
	cmd_free(c);
	return err;
}

/* Negotiation is over: what the owner queued meanwhile goes out, in order. */
static void on_negotiated(struct qmp *q, const struct qmp_reply *r)
{
	struct qmp_cmd *c;

	if (r->err) {
		set_error(q, "QEMU refused qmp_capabilities: %s", r->error_desc);
		end_session(q, QMP_BROKEN, -EPROTO, q->last_error);
		return;
	}
	q->state = QMP_READY;
	for (c = q->pending; c; c = c->next) {
		if (!c->line)
			continue;
		if (out_append(q, c->line, c->line_len)) {
			set_error(q, "out of memory queueing %s", c->name);
			end_session(q, QMP_BROKEN, -ENOMEM, q->last_error);
			return;
		}
		free(c->line);
		c->line = NULL;
	}
	q->unsent_bytes = 0;
	flush(q);
}

static void on_greeting(struct qmp *q, json_object *greeting)
{
	json_object *version, *qemu, *v;
	int major = -1, minor = -1, micro = -1;
	const char *package = "";
	int err;

	if (json_object_object_get_ex(greeting, "version", &version)) {
		if (json_object_object_get_ex(version, "qemu", &qemu)) {
			if (json_object_object_get_ex(qemu, "major", &v))
				major = json_object_get_int(v);
			if (json_object_object_get_ex(qemu, "minor", &v))
				minor = json_object_get_int(v);
			if (json_object_object_get_ex(qemu, "micro", &v))
				micro = json_object_get_int(v);
		}
		if (json_object_object_get_ex(version, "package", &v) &&
		    json_object_is_type(v, json_type_string))
			package = json_object_get_string(v);
	}
	snprintf(q->version, sizeof(q->version), *package ? "%d.%d.%d (%s)" : "%d.%d.%d", major,
		 minor, micro, package);
	q->state = QMP_NEGOTIATING;
	/* no capabilities asked for: dynmem needs neither out-of-band nor anything newer */
	err = send_cmd(q, "qmp_capabilities", NULL, CMD_CAPABILITIES, (union qmp_cmd_fn){ 0 }, NULL,
		       q->handshake_timeout_ns, q->handshake_deadline_ns);
	if (err) {
		set_error(q, "can't send qmp_capabilities: %s", strerror(-err));
		end_session(q, QMP_BROKEN, err, q->last_error);
	}
}

static void on_event(struct qmp *q, json_object *msg, json_object *name)
{
	json_object *data = NULL, *ts, *sec, *usec;
	__s64 timestamp_us = -1;

	if (!json_object_is_type(name, json_type_string)) {
		on_garbage(q, -EPROTO, "an event without a name");
		return;
	}
	json_object_object_get_ex(msg, "data", &data);
	if (json_object_object_get_ex(msg, "timestamp", &ts) &&
	    json_object_object_get_ex(ts, "seconds", &sec) &&
	    json_object_object_get_ex(ts, "microseconds", &usec))
		timestamp_us = json_object_get_int64(sec) * 1000000 + json_object_get_int64(usec);
	if (q->event_fn)
		q->event_fn(q, json_object_get_string(name), data, timestamp_us, q->event_ctx);
}

static void on_reply(struct qmp *q, json_object *msg)
{
	json_object *id, *ret = NULL, *error = NULL, *v;
	struct qmp_cmd **pp, *c;
	struct qmp_reply r = { 0 };
	__u64 idv;

	if (!json_object_object_get_ex(msg, "id", &id) || !json_object_is_type(id, json_type_int)) {
		on_garbage(q, -EPROTO, "a reply without an id of ours");
		return;
	}
	idv = json_object_get_uint64(id);
	/* a command still waiting to be sent can't have been answered */
	for (pp = &q->pending; (c = *pp); pp = &c->next)
		if (c->id == idv && !c->line)
			break;
	if (!c) {
		on_garbage(q, -EPROTO, "a reply to unknown command id %s",
			   json_object_to_json_string(id));
		return;
	}
	if (!json_object_object_get_ex(msg, "return", &ret) &&
	    (!json_object_object_get_ex(msg, "error", &error) ||
	     !json_object_is_type(error, json_type_object))) {
		on_garbage(q, -EPROTO, "a reply to %s with an \"error\" that isn't an object",
			   c->name);
		return;
	}
	*pp = c->next;
	if (q->pending_tail == &c->next)
		q->pending_tail = pp;
	if (error) {
		r.err = -EREMOTEIO;
		r.error_class = "(no class)";
		r.error_desc = "(no description)";
		if (json_object_object_get_ex(error, "class", &v))
			r.error_class = json_object_get_string(v);
		if (json_object_object_get_ex(error, "desc", &v))
			r.error_desc = json_object_get_string(v);
	} else {
		r.ret = ret;
	}
	r.command = c->name;
	if (c->kind == CMD_CAPABILITIES)
		on_negotiated(q, &r);
	else
		deliver(q, c, &r);
	cmd_free(c);
}

static void dispatch(struct qmp *q, json_object *msg)
{
	json_object *v;

	if (!json_object_is_type(msg, json_type_object)) {
		on_garbage(q, -EPROTO, "not a JSON object");
		return;
	}
	if (q->state == QMP_GREETING) {
		if (!json_object_object_get_ex(msg, "QMP", &v) ||
		    !json_object_is_type(v, json_type_object)) {
			on_garbage(q, -EPROTO,
				   "a greeting without \"QMP\" (is this a QMP socket?)");
			return;
		}
		on_greeting(q, v);
	} else if (json_object_object_get_ex(msg, "event", &v)) {
		on_event(q, msg, v);
	} else if (json_object_object_get_ex(msg, "return", &v) ||
		   json_object_object_get_ex(msg, "error", &v)) {
		on_reply(q, msg);
	} else {
		on_garbage(q, -EPROTO, "neither a reply nor an event");
	}
}

/* Feeds one read's bytes to the tokener; dispatches every message they complete. */
static void parse(struct qmp *q, const char *buf, size_t len)
{
	unsigned int session = q->session;
	enum json_tokener_error jerr;
	size_t pos = 0, used, n;
	json_object *msg;

	while (pos < len && q->session == session) {
		if (!q->msg_bytes) {
			while (pos < len && isspace((unsigned char)buf[pos]))
				pos++;
			if (pos == len)
				break;
		}
		/* quoted raw, to show garbage as it came, even past where the tokener gave up */
		n = sizeof(q->quote) - q->quote_len;
		if (n > len - pos)
			n = len - pos;
		memcpy(q->quote + q->quote_len, buf + pos, n);
		q->quote_len += n;
		msg = json_tokener_parse_ex(q->tok, buf + pos, (int)(len - pos));
		jerr = json_tokener_get_error(q->tok);
		used = json_tokener_get_parse_end(q->tok);
		q->msg_bytes += used;
		pos += used;
		/* also when this read completes it: the bound can't depend on how reads fall */
		if (q->msg_bytes > QMP_MAX_MSG_BYTES) {
			json_object_put(msg);
			on_garbage(q, -EMSGSIZE, "a message over %d bytes", QMP_MAX_MSG_BYTES);
			break;
		}
		if (!msg && jerr == json_tokener_continue)
			break; /* the tokener took the whole read */
		if (!msg && jerr != json_tokener_success) {
			on_garbage(q, -EPROTO, "not JSON (%s)", json_tokener_error_desc(jerr));
			break;
		}
		if (q->quote_len > q->msg_bytes)
			q->quote_len = q->msg_bytes;
		q->msg_bytes = 0;
		if (msg)
			dispatch(q, msg);
		else
			on_garbage(q, -EPROTO, "not a JSON object"); /* a bare null */
		json_object_put(msg);
		q->quote_len = 0;
	}
}

/* Completes a non-blocking connect; false if it failed (the session is over then). */
static bool finish_connect(struct qmp *q)
{
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (q->state != QMP_CONNECTING)
		goto out;
	if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		set_error(q, "connect: %s (is QEMU running?)", strerror(soerr));
		end_session(q, QMP_DISCONNECTED, -soerr, q->last_error);
		goto out;
	}
	q->state = QMP_GREETING;
out:
	return !soerr;
}

struct qmp *qmp_new(const char *socket_path)
{
	struct qmp *q = NULL;
	int err = 0;

	if (!socket_path || !*socket_path) {
		err = EINVAL;
		goto out;
	}
	if (strlen(socket_path) >= sizeof(q->path)) {
		err = ENAMETOOLONG;
		goto out;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->tok = json_tokener_new())) {
		err = ENOMEM;
		goto out;
	}
	strcpy(q->path, socket_path);
	q->fd = -1;
	q->state = QMP_DISCONNECTED;
	q->pending_tail = &q->pending;
	q->next_id = 1;
out:
	if (err) {
		if (q)
			free(q);
		q = NULL;
		errno = err;
	}
	return q;
}

void qmp_free(struct qmp *q)
{
	if (!q)
		return;
	q->freeing = true;
	end_session(q, QMP_DISCONNECTED, -ECANCELED, "the QMP client was freed");
	json_tokener_free(q->tok);
	free(q->out);
	free(q);
}

void qmp_set_event_fn(struct qmp *q, qmp_event_fn fn, void *ctx)
{
	q->event_fn = fn;
	q->event_ctx = ctx;
}

int qmp_connect(struct qmp *q, __u64 timeout_ns, __u64 now_ns)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1, err = 0;

	if (q->freeing) {
		err = -ESHUTDOWN;
		goto out;
	}
	if (q->fd >= 0) {
		err = -EISCONN;
		goto out;
	}
	if (!timeout_ns) {
		err = -EINVAL;
		goto out;
	}
	q->state = QMP_DISCONNECTED;
	q->version[0] = '\0';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		set_error(q, "socket: %s", strerror(-err));
		goto out;
	}
	memcpy(sa.sun_path, q->path, strlen(q->path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		q->state = QMP_GREETING;
	} else if (errno == EINPROGRESS) {
		q->state = QMP_CONNECTING;
	} else {
		/* EAGAIN too: a full backlog on a unix socket isn't a connect in progress */
		err = -errno;
		set_error(q, "connect: %s (is QEMU running?)", strerror(-err));
		goto out;
	}
	q->fd = fd;
	fd = -1;
	q->handshake_timeout_ns = timeout_ns;
	q->handshake_deadline_ns = now_ns + timeout_ns;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		end_session(q, QMP_DISCONNECTED, -ECANCELED, "closed by its owner");
}

int qmp_fd(const struct qmp *q)
{
	return q->fd;
}

bool qmp_want_write(const struct qmp *q)
{
	return q->fd >= 0 &&
	       (q->state == QMP_CONNECTING || q->out_off < q->out_len || q->write_err);
}

int qmp_on_readable(struct qmp *q, __u64 now_ns)
{
	unsigned int session = q->session;
	ssize_t n;
	int i;

	if (q->fd >= 0 && !finish_connect(q))
		goto out;
	for (i = 0; i < QMP_READS_PER_CALL && q->fd >= 0 && q->session == session; i++) {
		n = recv(q->fd, q->rbuf, sizeof(q->rbuf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			set_error(q, "read: %s (QEMU gone?)", strerror(errno));
			end_session(q, QMP_DISCONNECTED, -ECONNRESET, q->last_error);
			break;
		}
		if (n == 0) {
			set_error(q, "QEMU closed the connection%s",
				  q->state == QMP_GREETING ? " before its greeting" : "");
			end_session(q, QMP_DISCONNECTED, -ECONNRESET, q->last_error);
			break;
		}
		parse(q, q->rbuf, (size_t)n);
		if ((size_t)n < sizeof(q->rbuf))
			break; /* drained: spare the loop an EAGAIN */
	}
	if (q->session == session)
		expire(q, now_ns);
out:
	return q->session == session ? 0 : q->end_err;
}

int qmp_on_writable(struct qmp *q, __u64 now_ns)
{
	unsigned int session = q->session;

	if (q->fd >= 0 && finish_connect(q)) {
		flush(q);
		expire(q, now_ns);
	}
	return q->session == session ? 0 : q->end_err;
}

int qmp_tick(struct qmp *q, __u64 now_ns)
{
	unsigned int session = q->session;

	if (q->fd >= 0)
		expire(q, now_ns);
	return q->session == session ? 0 : q->end_err;
}

__u64 qmp_next_deadline_ns(const struct qmp *q)
{
	const struct qmp_cmd *c;
	__u64 next = 0;

	if (q->fd >= 0 && (q->state == QMP_CONNECTING || q->state == QMP_GREETING))
		next = q->handshake_deadline_ns;
	for (c = q->pending; c; c = c->next)
		if (!next || c->deadline_ns < next)
			next = c->deadline_ns;
	return next;
}

enum qmp_state qmp_state(const struct qmp *q)
{
	return q->state;
}

const char *qmp_state_name(enum qmp_state state)
{
	if ((unsigned int)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[state];
}

const char *qmp_last_error(const struct qmp *q)
{
	return q->last_error;
}

const char *qmp_qemu_version(const struct qmp *q)
{
	return q->version;
}

int qmp_send(struct qmp *q, const char *cmd, json_object *args, qmp_reply_fn cb, void *ctx,
	     __u64 timeout_ns, __u64 now_ns)
{
	return send_cmd(q, cmd, args, CMD_PLAIN, (union qmp_cmd_fn){ .reply = cb }, ctx, timeout_ns,
			now_ns + timeout_ns);
}

int qmp_balloon(struct qmp *q, __u64 target_bytes, qmp_reply_fn cb, void *ctx, __u64 timeout_ns,
		__u64 now_ns)
{
	json_object *args = NULL;
	int err;

	/* QEMU refuses 0 ("expects a size") and reads "value" as a signed 64-bit int */
	if (!target_bytes || target_bytes > INT64_MAX) {
		err = -EINVAL;
		goto out;
	}
	args = json_object_new_object();
	if (!args || json_add(args, "value", json_object_new_int64((int64_t)target_bytes))) {
		err = -ENOMEM;
		goto out;
	}
	err = send_cmd(q, "balloon", args, CMD_PLAIN, (union qmp_cmd_fn){ .reply = cb }, ctx,
		       timeout_ns, now_ns + timeout_ns);
	args = NULL;
out:
	json_object_put(args);
	return err;
}

int qmp_query_balloon(struct qmp *q, qmp_balloon_info_fn cb, void *ctx, __u64 timeout_ns,
		      __u64 now_ns)
{
	return send_cmd(q, "query-balloon", NULL, CMD_BALLOON_INFO,
			(union qmp_cmd_fn){ .balloon_info = cb }, ctx, timeout_ns,
			now_ns + timeout_ns);
}

/* {"path": QOM path of device, "property": property}, for qom-get and qom-set. */
static int qom_args(const char *device, const char *property, json_object **ret_args)
{
	char path[QMP_QOM_PATH_MAX];
	json_object *args = NULL;
	int n, err = 0;

	if (!device || !*device) {
		err = -EINVAL;
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s%s", device[0] == '/' ? "" : "/machine/peripheral/",
		     device);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	args = json_object_new_object();
	if (!args || json_add(args, "path", json_object_new_string(path)) ||
	    json_add(args, "property", json_object_new_string(property))) {
		err = -ENOMEM;
		goto out;
	}
	*ret_args = args;
	args = NULL;
out:
	json_object_put(args);
	return err;
}

int qmp_set_stats_interval(struct qmp *q, const char *device, __u32 interval_s, qmp_reply_fn cb,
			   void *ctx, __u64 timeout_ns, __u64 now_ns)
{
	json_object *args = NULL;
	int err;

	err = qom_args(device, "guest-stats-polling-interval", &args);
	if (err)
		goto out;
	if (json_add(args, "value", json_object_new_int64(interval_s))) {
		err = -ENOMEM;
		goto out;
	}
	err = send_cmd(q, "qom-set", args, CMD_PLAIN, (union qmp_cmd_fn){ .reply = cb }, ctx,
		       timeout_ns, now_ns + timeout_ns);
	args = NULL;
out:
	json_object_put(args);
	return err;
}

int qmp_get_guest_stats(struct qmp *q, const char *device, qmp_guest_stats_fn cb, void *ctx,
			__u64 timeout_ns, __u64 now_ns)
{
	json_object *args = NULL;
	int err;

	err = qom_args(device, "guest-stats", &args);
	if (!err)
		err = send_cmd(q, "qom-get", args, CMD_GUEST_STATS,
			       (union qmp_cmd_fn){ .guest_stats = cb }, ctx, timeout_ns,
			       now_ns + timeout_ns);
	return err;
}

int qmp_parse_balloon_info(json_object *obj, __u64 *ret_actual_bytes)
{
	json_object *v;
	int err = -EBADMSG;

	if (json_object_is_type(obj, json_type_object) &&
	    json_object_object_get_ex(obj, "actual", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= 0) {
		*ret_actual_bytes = json_object_get_uint64(v);
		err = 0;
	}
	return err;
}

/*
 * A stat the guest doesn't report: QEMU keeps it as (uint64_t)-1 and prints
 * 18446744073709551615; other producers write -1 or leave it out. None of them means 0.
 */
static bool parse_stat(json_object *stats, const char *key, __u64 *ret_val)
{
	json_object *v;
	bool known;

	known = json_object_object_get_ex(stats, key, &v) &&
		json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0 &&
		json_object_get_uint64(v) != UINT64_MAX;
	if (known)
		*ret_val = json_object_get_uint64(v);
	return known;
}

int qmp_parse_guest_stats(json_object *obj, struct qmp_guest_stats *ret_stats)
{
	struct qmp_guest_stats s = { 0 };
	const struct {
		const char *key;
		__u64 *val;
		bool *has;
	} keys[] = {
		{ "stat-total-memory", &s.total_bytes, &s.has_total },
		{ "stat-available-memory", &s.available_bytes, &s.has_available },
		{ "stat-free-memory", &s.free_bytes, &s.has_free },
		{ "stat-disk-caches", &s.disk_caches_bytes, &s.has_disk_caches },
		{ "stat-major-faults", &s.major_faults, &s.has_major_faults },
		{ "stat-minor-faults", &s.minor_faults, &s.has_minor_faults },
		{ "stat-swap-in", &s.swap_in_bytes, &s.has_swap_in },
		{ "stat-swap-out", &s.swap_out_bytes, &s.has_swap_out },
		{ "stat-htlb-pgalloc", &s.htlb_pgalloc, &s.has_htlb_pgalloc },
		{ "stat-htlb-pgfail", &s.htlb_pgfail, &s.has_htlb_pgfail },
	};
	json_object *stats, *v;
	int err = 0;
	size_t i;

	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, "stats", &stats) ||
	    !json_object_is_type(stats, json_type_object)) {
		err = -EBADMSG;
		goto out;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		*keys[i].has = parse_stat(stats, keys[i].key, keys[i].val);
	if (json_object_object_get_ex(obj, "last-update", &v) &&
	    json_object_is_type(v, json_type_int))
		s.last_update_s = json_object_get_int64(v);
	*ret_stats = s;
out:
	return err;
}
