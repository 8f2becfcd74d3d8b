// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/qmp.c against a fake QEMU: a unix socket in a temp dir whose server end,
 * in this process, replays a transcript from tests/fixtures/qmp (the format is in its README;
 * real-*.txt were recorded from a real QEMU). One poll loop drives both ends, and time is
 * passed to the client explicitly, so timeouts are tested without sleeping.
 *
 * Every callback appends a line to a log, and the tests compare the log with what the
 * transcript says must happen, in order.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "qmp.h"

#define NSEC_PER_SEC 1000000000ULL
#define TIMEOUT_NS   (2 * NSEC_PER_SEC)
#define T0_NS	     (1000 * NSEC_PER_SEC)
#define MAX_STEPS    64
#define MAX_LOG	     64
#define SETTLE_ITERS 200000

static char fixtures[PATH_MAX];

/* ---- the fake QEMU ------------------------------------------------------------------------ */

enum step_kind { STEP_SEND, STEP_EXPECT, STEP_TOGETHER, STEP_CLOSE };

struct step {
	enum step_kind kind;
	char *text;
	int n;
};

struct fake {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd, cfd;
	struct step steps[MAX_STEPS];
	int nsteps, pos;
	char in[1 << 16]; /* what the client sent, not yet matched */
	size_t in_len;
	char *out; /* what is being sent, chunk bytes per write */
	size_t out_len, out_off, chunk;
	size_t chunk_bytes; /* 0: each message in one write */
	bool halves;	    /* each message in two writes */
	json_object *ids;   /* transcript id → the client's */
	long long last_client_id;
	char failure[2048];
};

static void fake_fail(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fake_fail(struct fake *f, const char *fmt, ...)
{
	va_list ap;

	if (f->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
	va_end(ap);
	f->pos = f->nsteps;
}

static void fake_free_steps(struct fake *f)
{
	int i;

	for (i = 0; i < f->nsteps; i++)
		free(f->steps[i].text);
	f->nsteps = f->pos = 0;
	json_object_put(f->ids);
	f->ids = json_object_new_object();
}

/* Loads a transcript for what comes next (this connection or the next one). */
static void fake_load(struct fake *f, const char *name)
{
	char path[PATH_MAX + 64], line[8192];
	struct step *s;
	size_t len;
	FILE *file;

	fake_free_steps(f);
	snprintf(path, sizeof(path), "%s/qmp/%s", fixtures, name);
	file = fopen(path, "re");
	if (!file)
		fail_msg("can't open fixture %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), file)) {
		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		assert_true(f->nsteps < MAX_STEPS);
		s = &f->steps[f->nsteps++];
		s->text = NULL;
		if (!strncmp(line, "< ", 2)) {
			s->kind = STEP_SEND;
			s->text = strdup(line + 2);
		} else if (!strncmp(line, "> ", 2)) {
			s->kind = STEP_EXPECT;
			s->text = strdup(line + 2);
		} else if (sscanf(line, "! together %d", &s->n) == 1) {
			s->kind = STEP_TOGETHER;
		} else if (!strcmp(line, "! close")) {
			s->kind = STEP_CLOSE;
		} else {
			fail_msg("%s: bad line: %s", path, line);
		}
	}
	fclose(file);
}

static void fake_listen(struct fake *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
}

static void fake_drop_conn(struct fake *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	f->cfd = -1;
	f->in_len = 0;
	free(f->out);
	f->out = NULL;
	f->out_len = f->out_off = 0;
}

/* QEMU exits: no connection, no socket file. */
static void fake_stop(struct fake *f)
{
	fake_drop_conn(f);
	if (f->lfd >= 0)
		close(f->lfd);
	f->lfd = -1;
	unlink(f->path);
}

static void fake_queue(struct fake *f, const char *text, size_t len, size_t chunk)
{
	f->out = realloc(f->out, f->out_len + len);
	assert_non_null(f->out);
	memcpy(f->out + f->out_len, text, len);
	f->out_len += len;
	f->chunk = chunk;
}

/* Sends raw bytes now, outside the transcript (garbage, a cut reply, a huge one). */
static void fake_send_raw(struct fake *f, const char *text, size_t len)
{
	fake_queue(f, text, len, len);
}

/* A "<" line with the transcript's id replaced by the client's, plus QEMU's "\r\n". */
static char *fake_rewrite(struct fake *f, const char *text)
{
	json_object *msg = json_tokener_parse(text), *id, *client;
	char key[32], from[48], to[48], *out;
	const char *at;
	size_t len;

	out = malloc(strlen(text) + 64);
	assert_non_null(out);
	strcpy(out, text);
	if (msg && json_object_object_get_ex(msg, "id", &id) &&
	    json_object_object_get_ex(f->ids, json_object_to_json_string(id), &client)) {
		snprintf(key, sizeof(key), "%s", json_object_to_json_string(id));
		snprintf(from, sizeof(from), "\"id\": %s", key);
		snprintf(to, sizeof(to), "\"id\": %lld", (long long)json_object_get_int64(client));
		/* textually, so the bytes stay QEMU's own */
		for (at = strstr(text, from); at; at = strstr(at + 1, from))
			if (at[strlen(from)] < '0' || at[strlen(from)] > '9')
				break;
		if (!at)
			fail_msg("can't rewrite the id of: %s", text);
		len = (size_t)(at - text);
		snprintf(out + len, strlen(text) + 64 - len, "%s%s", to, at + strlen(from));
	}
	strcat(out, "\r\n");
	json_object_put(msg);
	return out;
}

static size_t fake_chunk(const struct fake *f, size_t len)
{
	if (f->chunk_bytes)
		return f->chunk_bytes;
	return f->halves ? (len + 1) / 2 : len;
}

/* One complete line from the client, or NULL; the caller frees it. */
static char *fake_take_line(struct fake *f)
{
	char *nl = memchr(f->in, '\n', f->in_len), *line;
	size_t len;

	if (!nl)
		return NULL;
	len = (size_t)(nl - f->in);
	line = strndup(f->in, len);
	memmove(f->in, nl + 1, f->in_len - len - 1);
	f->in_len -= len + 1;
	return line;
}

static void fake_note_id(struct fake *f, json_object *msg)
{
	json_object *id;

	if (json_object_object_get_ex(msg, "id", &id))
		f->last_client_id = json_object_get_int64(id);
}

static bool fake_expect(struct fake *f, const char *want_text)
{
	json_object *want, *got, *want_id = NULL, *got_id = NULL;
	char *line = fake_take_line(f);

	if (!line)
		return false;
	want = json_tokener_parse(want_text);
	got = json_tokener_parse(line);
	if (!got || !json_object_is_type(got, json_type_object)) {
		fake_fail(f, "step %d: the client sent something that isn't a JSON object: %s",
			  f->pos, line);
		goto out;
	}
	fake_note_id(f, got);
	json_object_object_get_ex(want, "id", &want_id);
	json_object_object_get_ex(got, "id", &got_id);
	if (want_id && got_id)
		json_object_object_add(f->ids, json_object_to_json_string(want_id),
				       json_object_get(got_id));
	json_object_object_del(want, "id");
	json_object_object_del(got, "id");
	if (!json_object_equal(want, got))
		fake_fail(f, "step %d: expected %s\n  got %s", f->pos, want_text, line);
	else if (!got_id)
		fake_fail(f, "step %d: a command without an id: %s", f->pos, line);
	f->pos++;
out:
	json_object_put(want);
	json_object_put(got);
	free(line);
	return true;
}

/* Runs the transcript's next step if it can; true if it did something. */
static bool fake_step(struct fake *f)
{
	struct step *s = &f->steps[f->pos];
	char *text;
	int i;

	if (f->pos >= f->nsteps)
		return false;
	switch (s->kind) {
	case STEP_SEND:
		text = fake_rewrite(f, s->text);
		fake_queue(f, text, strlen(text), fake_chunk(f, strlen(text)));
		free(text);
		f->pos++;
		return true;
	case STEP_TOGETHER:
		assert_true(f->pos + s->n < f->nsteps);
		for (i = 1; i <= s->n; i++) {
			assert_int_equal(s[i].kind, STEP_SEND);
			text = fake_rewrite(f, s[i].text);
			fake_queue(f, text, strlen(text), 0);
			free(text);
		}
		f->chunk = f->out_len;
		f->pos += 1 + s->n;
		return true;
	case STEP_EXPECT:
		return fake_expect(f, s->text);
	case STEP_CLOSE:
		fake_drop_conn(f);
		f->pos++;
		return true;
	}
	return false;
}

static bool fake_read(struct fake *f)
{
	bool progress = false;
	json_object *msg;
	char *line;
	ssize_t n;

	while (f->cfd >= 0 && f->in_len < sizeof(f->in)) {
		n = recv(f->cfd, f->in + f->in_len, sizeof(f->in) - f->in_len, MSG_DONTWAIT);
		if (n < 0)
			break;
		progress = true;
		if (n == 0) { /* the client hung up: wait for the next one, as QEMU does */
			fake_drop_conn(f);
			break;
		}
		f->in_len += (size_t)n;
	}
	/* past the transcript (or between its steps with nothing expected): note and drop */
	while (f->pos >= f->nsteps && (line = fake_take_line(f))) {
		msg = json_tokener_parse(line);
		fake_note_id(f, msg);
		json_object_put(msg);
		free(line);
	}
	if (f->in_len == sizeof(f->in) && f->pos >= f->nsteps)
		f->in_len = 0; /* an over-long line nobody waits for */
	return progress;
}

static bool fake_write(struct fake *f)
{
	size_t len = f->out_len - f->out_off;
	ssize_t n;

	if (len > f->chunk)
		len = f->chunk;
	n = send(f->cfd, f->out + f->out_off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	if (n < 0) { /* the client is gone: what was left can't be sent */
		f->out_off = f->out_len;
	} else {
		f->out_off += (size_t)n;
	}
	if (f->out_off == f->out_len) {
		free(f->out);
		f->out = NULL;
		f->out_len = f->out_off = 0;
	}
	return true;
}

static bool fake_pump(struct fake *f)
{
	bool progress = false;

	if (f->cfd < 0 && f->lfd >= 0) {
		f->cfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (f->cfd < 0)
			return false;
		progress = true;
	}
	if (f->cfd < 0)
		return progress;
	progress |= fake_read(f);
	if (f->cfd < 0)
		return true;
	if (f->out_len)
		return fake_write(f) || progress;
	return fake_step(f) || progress;
}

/* ---- the harness: client + fake + a log of every callback --------------------------------- */

struct h {
	char dir[64];
	struct fake f;
	struct qmp *q;
	__u64 now_ns;
	char log[MAX_LOG][512];
	int nlog, seen;
	int end_err;	     /* the last session end reported by an entry point */
	char last_desc[512]; /* error_desc of the last failed command */
	bool close_in_reply;
};

static void logf_(struct h *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct h *h, const char *fmt, ...)
{
	va_list ap;

	assert_true(h->nlog < MAX_LOG);
	va_start(ap, fmt);
	vsnprintf(h->log[h->nlog++], sizeof(h->log[0]), fmt, ap);
	va_end(ap);
}

static const char *errname(int err)
{
	static char buf[16];

	switch (err) {
	case 0:
		return "0";
	case -EREMOTEIO:
		return "EREMOTEIO";
	case -ETIMEDOUT:
		return "ETIMEDOUT";
	case -ECONNRESET:
		return "ECONNRESET";
	case -ECANCELED:
		return "ECANCELED";
	case -EBADMSG:
		return "EBADMSG";
	}
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

/* The reply's outcome as one log line's tail: "err=0 ret=..." or "err=E class=C desc=D". */
static void reply_text(struct h *h, const struct qmp_reply *r, char *buf, size_t len)
{
	/* every failure says why, for the owner's log */
	if (r->err) {
		assert_non_null(r->error_desc);
		assert_true(r->error_desc[0] != '\0');
		snprintf(h->last_desc, sizeof(h->last_desc), "%s", r->error_desc);
	}
	if (!r->err)
		snprintf(buf, len, "err=0 ret=%.200s",
			 json_object_to_json_string_ext(
				 r->ret, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (r->err == -EREMOTEIO)
		snprintf(buf, len, "err=EREMOTEIO class=%s desc=%s", r->error_class, r->error_desc);
	else
		snprintf(buf, len, "err=%s", errname(r->err));
}

static void on_reply(struct qmp *q, const struct qmp_reply *r, void *ctx)
{
	struct h *h = ctx;
	char text[400];

	(void)q;
	reply_text(h, r, text, sizeof(text));
	logf_(h, "reply %s %s", r->command, text);
}

static void on_balloon_info(struct qmp *q, const struct qmp_reply *r, __u64 actual_bytes, void *ctx)
{
	struct h *h = ctx;
	char text[400];

	assert_string_equal(r->command, "query-balloon");
	if (r->err) {
		reply_text(h, r, text, sizeof(text));
		logf_(h, "balloon-info %s", text);
	} else {
		logf_(h, "balloon-info actual=%llu", (unsigned long long)actual_bytes);
	}
	if (h->close_in_reply)
		qmp_close(q);
}

static const char *stat_text(char *buf, bool has, __u64 v)
{
	if (has)
		sprintf(buf, "%llu", (unsigned long long)v);
	else
		strcpy(buf, "?");
	return buf;
}

static void on_guest_stats(struct qmp *q, const struct qmp_reply *r,
			   const struct qmp_guest_stats *s, void *ctx)
{
	char b[10][24], text[400];
	struct h *h = ctx;

	(void)q;
	if (r->err) {
		assert_null(s);
		reply_text(h, r, text, sizeof(text));
		logf_(h, "stats %s", text);
		return;
	}
	logf_(h,
	      "stats total=%s available=%s free=%s caches=%s major=%s minor=%s swap_in=%s "
	      "swap_out=%s htlb_alloc=%s htlb_fail=%s last_update=%lld",
	      stat_text(b[0], s->has_total, s->total_bytes),
	      stat_text(b[1], s->has_available, s->available_bytes),
	      stat_text(b[2], s->has_free, s->free_bytes),
	      stat_text(b[3], s->has_disk_caches, s->disk_caches_bytes),
	      stat_text(b[4], s->has_major_faults, s->major_faults),
	      stat_text(b[5], s->has_minor_faults, s->minor_faults),
	      stat_text(b[6], s->has_swap_in, s->swap_in_bytes),
	      stat_text(b[7], s->has_swap_out, s->swap_out_bytes),
	      stat_text(b[8], s->has_htlb_pgalloc, s->htlb_pgalloc),
	      stat_text(b[9], s->has_htlb_pgfail, s->htlb_pgfail), (long long)s->last_update_s);
}

static void on_event(struct qmp *q, const char *event, json_object *data, __s64 timestamp_us,
		     void *ctx)
{
	struct h *h = ctx;
	__u64 actual;

	(void)q;
	if (!strcmp(event, "BALLOON_CHANGE") && !qmp_parse_balloon_info(data, &actual))
		logf_(h, "event BALLOON_CHANGE actual=%llu ts=%lld", (unsigned long long)actual,
		      (long long)timestamp_us);
	else
		logf_(h, "event %s data=%s ts=%lld", event,
		      data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "-",
		      (long long)timestamp_us);
}

/* Log lines since the last check must be exactly these. */
static void check_log(struct h *h, const char *const *want)
{
	char all[MAX_LOG * 80] = "";
	int i;

	for (i = 0; i < h->nlog; i++) {
		strncat(all, "\n  ", sizeof(all) - strlen(all) - 1);
		strncat(all, h->log[i], sizeof(all) - strlen(all) - 1);
	}
	for (; *want; want++, h->seen++) {
		if (h->seen >= h->nlog)
			fail_msg("missing log line: %s\nlog:%s", *want, all);
		if (strcmp(h->log[h->seen], *want))
			fail_msg("log line %d:\n  want %s\n  got  %s\nlog:%s", h->seen, *want,
				 h->log[h->seen], all);
	}
	if (h->seen != h->nlog)
		fail_msg("unexpected log line: %s\nlog:%s", h->log[h->seen], all);
}
#define assert_log(h, ...) check_log(h, (const char *const[]){ __VA_ARGS__, NULL })
#define assert_no_log(h)   check_log(h, (const char *const[]){ NULL })

static void note_end(struct h *h, int err)
{
	if (err)
		h->end_err = err;
}

/* One turn of the loop: the fake, then the client as an epoll owner would drive it. */
static bool turn(struct h *h)
{
	bool progress = fake_pump(&h->f);
	struct pollfd p = { .fd = qmp_fd(h->q) };

	if (p.fd >= 0) {
		p.events = POLLIN | (qmp_want_write(h->q) ? POLLOUT : 0);
		if (poll(&p, 1, 0) > 0) {
			progress = true;
			if (p.revents & (POLLIN | POLLHUP | POLLERR))
				note_end(h, qmp_on_readable(h->q, h->now_ns));
			if ((p.revents & POLLOUT) && qmp_fd(h->q) == p.fd)
				note_end(h, qmp_on_writable(h->q, h->now_ns));
		}
	}
	note_end(h, qmp_tick(h->q, h->now_ns));
	return progress;
}

/* Runs the loop until neither end has anything left to do. */
static void settle(struct h *h)
{
	int i, idle = 0;

	for (i = 0; i < SETTLE_ITERS && idle < 3; i++)
		idle = turn(h) ? 0 : idle + 1;
	if (h->f.failure[0])
		fail_msg("fake QEMU: %s", h->f.failure);
	assert_true(idle >= 3);
}

static struct h *h_open(const char *fixture)
{
	struct h *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	strcpy(h->dir, "/tmp/dynmem-qmp-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->f.path, sizeof(h->f.path), "%s/qemu.qmp", h->dir);
	h->f.lfd = h->f.cfd = -1;
	h->f.ids = json_object_new_object();
	fake_load(&h->f, fixture);
	fake_listen(&h->f);
	h->q = qmp_new(h->f.path);
	assert_non_null(h->q);
	qmp_set_event_fn(h->q, on_event, h);
	h->now_ns = T0_NS;
	return h;
}

static void h_close(struct h *h)
{
	qmp_free(h->q);
	fake_stop(&h->f);
	fake_free_steps(&h->f);
	json_object_put(h->f.ids);
	rmdir(h->dir);
	free(h);
}

/* Connects and runs the handshake through to ready. */
static void h_ready(struct h *h)
{
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_string_equal(qmp_state_name(qmp_state(h->q)), "ready");
}

static void assert_state(struct h *h, enum qmp_state want)
{
	if (qmp_state(h->q) != want)
		fail_msg("state %s, want %s (last error: %s)", qmp_state_name(qmp_state(h->q)),
			 qmp_state_name(want), qmp_last_error(h->q));
}

#define assert_contains(s, sub)                                                                    \
	do {                                                                                       \
		if (!strstr((s), (sub)))                                                           \
			fail_msg("'%s'\n  does not contain '%s'", (s), (sub));                     \
	} while (0)

/* ---- the tests ---------------------------------------------------------------------------- */

/*
 * Greeting, then qmp_capabilities, then ready; a command queued before the greeting waits for
 * negotiation (the fake checks the order), and the version comes from the greeting.
 */
static void greeting_negotiation_then_queued_command(void **state)
{
	struct h *h = h_open("greeting.txt");

	(void)state;
	assert_state(h, QMP_DISCONNECTED);
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	assert_state(h, QMP_GREETING);
	assert_true(qmp_fd(h->q) >= 0);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	assert_false(qmp_want_write(h->q)); /* nothing may go out before the greeting */
	settle(h);
	assert_state(h, QMP_READY);
	assert_string_equal(qmp_qemu_version(h->q), "7.2.0 (Debian 1:7.2+dfsg-7+deb12u18)");
	assert_log(h, "balloon-info actual=2147483648");
	assert_int_equal(qmp_next_deadline_ns(h->q), 0);
	assert_string_equal(qmp_last_error(h->q), "");
	h_close(h);
}

/* Replays real-guest.txt; the same log whatever the reads look like. */
static void replay_real_guest(size_t chunk_bytes, bool halves)
{
	struct h *h = h_open("real-guest.txt");
	const __u64 t = TIMEOUT_NS;

	h->f.chunk_bytes = chunk_bytes;
	h->f.halves = halves;
	h_ready(h);
	assert_string_equal(qmp_qemu_version(h->q), "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_set_stats_interval(h->q, "balloon0", 2, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_balloon(h->q, 192ULL << 20, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	settle(h);
	/* a QOM path works as well as a qdev id */
	assert_int_equal(qmp_get_guest_stats(h->q, "/machine/peripheral/balloon0", on_guest_stats,
					     h, t, h->now_ns),
			 0);
	settle(h);
	assert_int_equal(qmp_balloon(h->q, 256ULL << 20, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_send(h->q, "quit", NULL, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_log(h, "balloon-info actual=268435456", "reply qom-set err=0 ret={}",
		   "stats total=215810048 available=189116416 free=185876480 caches=3047424 "
		   "major=0 minor=1227 swap_in=0 swap_out=0 htlb_alloc=0 htlb_fail=0 "
		   "last_update=1795705402",
		   "reply balloon err=0 ret={}",
		   "event BALLOON_CHANGE actual=267386880 ts=1795705403791173",
		   "event BALLOON_CHANGE actual=201326592 ts=1795705403930989",
		   "balloon-info actual=201326592",
		   "stats total=148701184 available=123375616 free=120135680 caches=3047424 "
		   "major=0 minor=1786 swap_in=0 swap_out=0 htlb_alloc=0 htlb_fail=0 "
		   "last_update=1795705410",
		   "reply balloon err=0 ret={}",
		   "event BALLOON_CHANGE actual=202375168 ts=1795705411798242",
		   "event BALLOON_CHANGE actual=268435456 ts=1795705411878292",
		   "balloon-info actual=268435456",
		   "event SHUTDOWN data={\"guest\":false,\"reason\":\"host-qmp-quit\"} "
		   "ts=1795705416797756",
		   "reply quit err=0 ret={}");
	/* QEMU exits after quit: the session ends cleanly, nothing was pending */
	assert_state(h, QMP_DISCONNECTED);
	assert_int_equal(h->end_err, -ECONNRESET);
	assert_int_equal(qmp_fd(h->q), -1);
	assert_contains(qmp_last_error(h->q), "QEMU closed the connection");
	h_close(h);
}

/* The real guest transcript, each message in one read. */
static void real_guest_transcript(void **state)
{
	(void)state;
	replay_real_guest(0, false);
}

/* The same, every message cut in half: the client must wait for the rest. */
static void real_guest_transcript_cut_in_halves(void **state)
{
	(void)state;
	replay_real_guest(0, true);
}

/* The same, one byte per read. */
static void real_guest_transcript_byte_by_byte(void **state)
{
	(void)state;
	replay_real_guest(1, false);
}

/*
 * A real paused QEMU with a balloon but no driver: unknown stats are (uint64_t)-1 and must
 * come out unknown, not 0 nor 2^64-1; a non-object "return" is passed as is; QEMU's refusals
 * are -EREMOTEIO with its words; events (RESUME) arrive before the reply they relate to.
 */
static void real_paused_balloon_transcript(void **state)
{
	struct h *h = h_open("real-balloon-paused.txt");
	const __u64 t = TIMEOUT_NS;
	json_object *args;

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	assert_int_equal(qmp_set_stats_interval(h->q, "balloon0", 2, on_reply, h, t, h->now_ns), 0);
	args = json_tokener_parse("{\"path\": \"/machine/peripheral/balloon0\", "
				  "\"property\": \"guest-stats-polling-interval\"}");
	assert_int_equal(qmp_send(h->q, "qom-get", args, on_reply, h, t, h->now_ns), 0);
	assert_int_equal(qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, t, h->now_ns), 0);
	assert_int_equal(qmp_balloon(h->q, 96ULL << 20, on_reply, h, t, h->now_ns), 0);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	settle(h);
	/* what the typed wrappers refuse to send, sent raw to see QEMU's own refusals */
	args = json_tokener_parse("{\"path\": \"/machine/peripheral/balloon0\", \"property\": "
				  "\"guest-stats-polling-interval\", \"value\": -1}");
	assert_int_equal(qmp_send(h->q, "qom-set", args, on_reply, h, t, h->now_ns), 0);
	assert_int_equal(qmp_get_guest_stats(h->q, "nosuch", on_guest_stats, h, t, h->now_ns), 0);
	assert_int_equal(qmp_balloon(h->q, 0, on_reply, h, t, h->now_ns), -EINVAL);
	args = json_tokener_parse("{\"value\": 0}");
	assert_int_equal(qmp_send(h->q, "balloon", args, on_reply, h, t, h->now_ns), 0);
	assert_int_equal(qmp_send(h->q, "cont", NULL, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	assert_int_equal(qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, t, h->now_ns), 0);
	assert_int_equal(qmp_send(h->q, "quit", NULL, NULL, NULL, t, h->now_ns), 0);
	settle(h);
	assert_log(h, "balloon-info actual=134217728", "reply qom-set err=0 ret={}",
		   "reply qom-get err=0 ret=2",
		   "stats total=? available=? free=? caches=? major=? minor=? swap_in=? "
		   "swap_out=? htlb_alloc=? htlb_fail=? last_update=0",
		   "reply balloon err=0 ret={}", "balloon-info actual=134217728",
		   "reply qom-set err=EREMOTEIO class=GenericError desc=timer value must be "
		   "greater than zero",
		   "stats err=EREMOTEIO class=DeviceNotFound desc=Device "
		   "'/machine/peripheral/nosuch' not found",
		   "reply balloon err=EREMOTEIO class=GenericError desc=Parameter 'target' "
		   "expects a size",
		   "event RESUME data=- ts=1795705421067194", "reply cont err=0 ret={}",
		   "balloon-info actual=134217728",
		   "stats total=? available=? free=? caches=? major=? minor=? swap_in=? "
		   "swap_out=? htlb_alloc=? htlb_fail=? last_update=0",
		   "event SHUTDOWN data={\"guest\":false,\"reason\":\"host-qmp-quit\"} "
		   "ts=1795705423074792");
	assert_state(h, QMP_DISCONNECTED);
	h_close(h);
}

/*
 * A real QEMU without a balloon: every refusal is -EREMOTEIO with QEMU's class and words,
 * and the session stays ready through them; quit's SHUTDOWN comes before its reply, then EOF.
 */
static void real_no_balloon_errors_then_quit(void **state)
{
	struct h *h = h_open("real-no-balloon.txt");
	const __u64 t = TIMEOUT_NS;

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	assert_int_equal(qmp_balloon(h->q, 64ULL << 20, on_reply, h, t, h->now_ns), 0);
	assert_int_equal(qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, t, h->now_ns), 0);
	assert_int_equal(qmp_send(h->q, "no-such-command", NULL, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_READY);
	assert_int_equal(qmp_send(h->q, "quit", NULL, on_reply, h, t, h->now_ns), 0);
	settle(h);
	assert_log(h,
		   "balloon-info err=EREMOTEIO class=DeviceNotActive desc=No balloon device has "
		   "been activated",
		   "reply balloon err=EREMOTEIO class=DeviceNotActive desc=No balloon device has "
		   "been activated",
		   "stats err=EREMOTEIO class=DeviceNotFound desc=Device "
		   "'/machine/peripheral/balloon0' not found",
		   "reply no-such-command err=EREMOTEIO class=CommandNotFound desc=The command "
		   "no-such-command has not been found",
		   "event SHUTDOWN data={\"guest\":false,\"reason\":\"host-qmp-quit\"} "
		   "ts=1795705349509876",
		   "reply quit err=0 ret={}");
	assert_state(h, QMP_DISCONNECTED);
	h_close(h);
}

/* Events between a command and its reply go to the event callback; the reply still matches. */
static void events_between_command_and_reply(void **state)
{
	struct h *h = h_open("events.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_int_equal(qmp_balloon(h->q, 1ULL << 30, on_reply, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "event BALLOON_CHANGE actual=2146435072 ts=1795705403791173",
		   "event BALLOON_CHANGE actual=1610612736 ts=1795705403930989",
		   "balloon-info actual=1610612736", "reply balloon err=0 ret={}",
		   "event BALLOON_CHANGE actual=1073741824 ts=1795705404000012",
		   "event STOP data=- ts=1795705405000000");
	assert_state(h, QMP_READY);
	h_close(h);
}

/*
 * A reply cut in two reads, in the middle of a string and between its "\r" and "\n": nothing
 * is delivered until the rest arrives.
 */
static void reply_cut_in_half_waits_for_the_rest(void **state)
{
	struct h *h = h_open("ready.txt");
	char reply[128];
	size_t cut;

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	snprintf(reply, sizeof(reply), "{\"return\": {\"actual\": 1073741824}, \"id\": %lld}\r\n",
		 h->f.last_client_id);
	cut = (size_t)(strstr(reply, "actual") + 3 - reply);
	fake_send_raw(&h->f, reply, cut);
	settle(h);
	assert_no_log(h);
	assert_state(h, QMP_READY);
	fake_send_raw(&h->f, reply + cut, strlen(reply) - cut - 1); /* all but the "\n" */
	settle(h);
	assert_log(h, "balloon-info actual=1073741824");
	fake_send_raw(&h->f, "\n", 1);
	settle(h);
	assert_no_log(h);
	assert_state(h, QMP_READY);
	h_close(h);
}

/* Two replies and an event in one read: all three are dispatched, in order. */
static void two_replies_and_an_event_in_one_read(void **state)
{
	struct h *h = h_open("together.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(
		qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "balloon-info actual=1073741824",
		   "event BALLOON_CHANGE actual=1073741824 ts=1795705410500000",
		   "stats total=1017118720 available=812646400 free=700000256 caches=98304000 "
		   "major=17 minor=123456 swap_in=0 swap_out=0 htlb_alloc=0 htlb_fail=0 "
		   "last_update=1795705410");
	h_close(h);
}

/*
 * A callback that closes the session while more messages of the same read wait: they are
 * dropped, later commands get -ECANCELED, and nothing touches freed memory (valgrind).
 */
static void callback_may_close_mid_read(void **state)
{
	struct h *h = h_open("together.txt");

	(void)state;
	h_ready(h);
	h->close_in_reply = true;
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(
		qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "balloon-info actual=1073741824", "stats err=ECANCELED");
	assert_state(h, QMP_DISCONNECTED);
	assert_int_equal(qmp_fd(h->q), -1);
	h_close(h);
}

/* Anything the client can't follow ends the session as broken, quoting what came. */
static void garbage_breaks_the_session(void **state)
{
	static const struct {
		bool ready;	 /* negotiate first, with a command in flight */
		const char *pre; /* sent in a read of its own first, if not NULL */
		const char *text, *want;
	} cases[] = {
		{ true, NULL, "xyz this is not json\r\n",
		  "garbage from QEMU: 'xyz this is not json': not JSON (" },
		{ true, NULL, "[1, 2, 3]\r\n",
		  "garbage from QEMU: '[1, 2, 3]': not a JSON object" },
		{ true, NULL, "\"just a string\"\r\n", "'\"just a string\"': not a JSON object" },
		{ true, NULL, "null\r\n", "'null': not a JSON object" },
		{ true, NULL, "{\"return\": {}, \"id\": 999}\r\n",
		  "'{\"return\": {}, \"id\": 999}': a reply to unknown command id 999" },
		{ true, NULL, "{\"return\": {}}\r\n", "a reply without an id of ours" },
		{ true, NULL, "{\"hello\": \"world\"}\r\n", "neither a reply nor an event" },
		{ true, NULL, "{\"event\": 42}\r\n", "an event without a name" },
		{ true, NULL, "this garbage line is much longer than forty bytes, so it is cut\r\n",
		  "garbage from QEMU: 'this garbage line is much longer than fo...' (first 40 "
		  "bytes): not JSON" },
		{ true, NULL, "\x01\x02 binary \xff\r\n",
		  "garbage from QEMU: '.. binary .': not JSON" },
		{ false, NULL, "{\"hello\": 1}\r\n",
		  "garbage from QEMU: '{\"hello\": 1}': a greeting without \"QMP\"" },
		{ false, NULL, "SSH-2.0-OpenSSH_9.2\r\n", "'SSH-2.0-OpenSSH_9.2': not JSON" },
		/* whitespace alone in a read belongs to no message */
		{ true, "\r\n", "xyz\r\n", "garbage from QEMU: 'xyz': not JSON" },
		/* two values on one line: the quote is the bad one alone */
		{ true, NULL, "[1]{\"return\": {}, \"id\": 2}\r\n",
		  "garbage from QEMU: '[1]': not a JSON object" },
	};
	struct h *h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = h_open(cases[i].ready ? "ready.txt" : "silent.txt");
		if (cases[i].ready) {
			h_ready(h);
			assert_int_equal(
				qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns),
				0);
		} else {
			assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
		}
		settle(h);
		if (cases[i].pre) {
			fake_send_raw(&h->f, cases[i].pre, strlen(cases[i].pre));
			settle(h);
			assert_int_equal(qmp_state(h->q),
					 cases[i].ready ? QMP_READY : QMP_GREETING);
		}
		fake_send_raw(&h->f, cases[i].text, strlen(cases[i].text));
		settle(h);
		assert_state(h, QMP_BROKEN);
		assert_int_equal(qmp_fd(h->q), -1);
		assert_int_equal(h->end_err, -EPROTO);
		assert_contains(qmp_last_error(h->q), cases[i].want);
		assert_contains(qmp_last_error(h->q), h->f.path);
		if (cases[i].ready)
			assert_log(h, "balloon-info err=ECONNRESET");
		else
			assert_no_log(h);
		assert_int_equal(
			qmp_send(h->q, "query-status", NULL, NULL, NULL, TIMEOUT_NS, h->now_ns),
			-ENOTCONN);
		h_close(h);
	}
}

/* An error reply is -EREMOTEIO with QEMU's words, and the session goes on. */
static void error_reply_is_eremoteio(void **state)
{
	struct h *h = h_open("error-generic.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_READY);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h,
		   "balloon-info err=EREMOTEIO class=GenericError desc=No balloon device has been "
		   "activated",
		   "balloon-info actual=1073741824");
	assert_string_equal(qmp_last_error(h->q), "");
	h_close(h);
}

/*
 * A command without a reply times out exactly at its deadline (time is ours), the session is
 * dropped as broken (later replies couldn't be trusted), the other pending command gets
 * -ECONNRESET, and the owner can connect again.
 */
static void timeout_breaks_the_session_then_reconnect(void **state)
{
	struct h *h = h_open("ready.txt");
	const __u64 sent_ns = T0_NS;

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, sent_ns), 0);
	assert_int_equal(
		qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, 5 * TIMEOUT_NS, sent_ns),
		0);
	settle(h);
	assert_int_equal(qmp_next_deadline_ns(h->q), sent_ns + TIMEOUT_NS);
	h->now_ns = sent_ns + TIMEOUT_NS - 1;
	assert_int_equal(qmp_tick(h->q, h->now_ns), 0);
	assert_no_log(h);
	assert_state(h, QMP_READY);
	h->now_ns++;
	assert_int_equal(qmp_tick(h->q, h->now_ns), -ETIMEDOUT);
	assert_log(h, "balloon-info err=ETIMEDOUT", "stats err=ECONNRESET");
	assert_state(h, QMP_BROKEN);
	assert_int_equal(qmp_fd(h->q), -1);
	assert_contains(qmp_last_error(h->q), "no reply to query-balloon within 2000 ms");
	assert_string_equal(h->last_desc, qmp_last_error(h->q)); /* the callbacks were told why */
	assert_int_equal(qmp_next_deadline_ns(h->q), 0);

	/* the fake sees the hang-up and waits for the next client, as QEMU does */
	fake_load(&h->f, "greeting.txt");
	settle(h);
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_READY);
	assert_log(h, "balloon-info actual=2147483648");
	h_close(h);
}

/*
 * Deadlines hold even for an owner that only calls qmp_on_readable(): what was read is
 * dispatched first (the event), then the overdue command expires.
 */
static void on_readable_alone_enforces_deadlines(void **state)
{
	struct h *h = h_open("ready.txt");
	const char *event = "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, "
			    "\"microseconds\": 2}}\r\n";
	struct pollfd p = { .events = POLLIN };
	int i;

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	fake_send_raw(&h->f, event, strlen(event));
	for (i = 0; i < 100 && h->f.out_len; i++)
		fake_pump(&h->f);
	p.fd = qmp_fd(h->q);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(qmp_on_readable(h->q, h->now_ns + TIMEOUT_NS), -ETIMEDOUT);
	assert_log(h, "event STOP data=- ts=1000002", "balloon-info err=ETIMEDOUT");
	assert_state(h, QMP_BROKEN);
	h_close(h);
}

/* Replies are paired with commands by id, not by order. */
static void replies_matched_by_id(void **state)
{
	struct h *h = h_open("replies-reordered.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_balloon(h->q, 512ULL << 20, on_reply, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "reply balloon err=0 ret={}", "balloon-info actual=1073741824");
	h_close(h);
}

/* A "return" without what the wrapper promises is -EBADMSG for that command alone. */
static void odd_return_is_ebadmsg(void **state)
{
	struct h *h = h_open("odd-returns.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(
		qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "balloon-info err=EBADMSG", "stats err=EBADMSG",
		   "balloon-info actual=1073741824");
	assert_state(h, QMP_READY);
	h_close(h);
}

/* A QEMU that accepts and never greets (hung, or its monitor busy): broken at the deadline. */
static void greeting_timeout(void **state)
{
	struct h *h = h_open("silent.txt");

	(void)state;
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_set_stats_interval(h->q, "balloon0", 1, on_reply, h, 10 * TIMEOUT_NS,
						h->now_ns),
			 0);
	settle(h);
	assert_state(h, QMP_GREETING);
	assert_int_equal(qmp_next_deadline_ns(h->q), T0_NS + TIMEOUT_NS);
	h->now_ns += TIMEOUT_NS;
	assert_int_equal(qmp_tick(h->q, h->now_ns), -ETIMEDOUT);
	assert_state(h, QMP_BROKEN);
	assert_contains(qmp_last_error(h->q), "no QMP greeting within 2000 ms");
	assert_log(h, "reply qom-set err=ECONNRESET");
	h_close(h);
}

/* A monitor that refuses qmp_capabilities can't be used: broken, with QEMU's words. */
static void refused_capabilities_breaks(void **state)
{
	struct h *h = h_open("refused-capabilities.txt");

	(void)state;
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_BROKEN);
	assert_int_equal(h->end_err, -EPROTO);
	assert_contains(qmp_last_error(h->q),
			"QEMU refused qmp_capabilities: Capabilities negotiation is already "
			"complete");
	assert_log(h, "balloon-info err=ECONNRESET");
	h_close(h);
}

/* QEMU goes away with a command in flight: -ECONNRESET, disconnected, the fd closed. */
static void eof_mid_command(void **state)
{
	struct h *h = h_open("eof-mid-command.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "balloon-info err=ECONNRESET");
	assert_state(h, QMP_DISCONNECTED);
	assert_int_equal(h->end_err, -ECONNRESET);
	assert_int_equal(qmp_fd(h->q), -1);
	assert_contains(qmp_last_error(h->q), "QEMU closed the connection");
	h_close(h);
}

/*
 * QEMU dies in the middle of a reply: the half message is forgotten with the session, and the
 * next session's greeting parses from a clean start.
 */
static void eof_mid_message_then_reconnect(void **state)
{
	struct h *h = h_open("ready.txt");
	const char *half = "{\"return\": {\"actual\": 10737";

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	fake_send_raw(&h->f, half, strlen(half));
	settle(h);
	assert_no_log(h);
	fake_drop_conn(&h->f);
	settle(h);
	assert_log(h, "balloon-info err=ECONNRESET");
	assert_state(h, QMP_DISCONNECTED);

	fake_load(&h->f, "greeting.txt");
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_READY);
	assert_log(h, "balloon-info actual=2147483648");
	h_close(h);
}

/* QEMU closes before greeting: commands queued meanwhile get -ECONNRESET too. */
static void eof_before_greeting(void **state)
{
	struct h *h = h_open("eof-before-greeting.txt");

	(void)state;
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	assert_int_equal(qmp_balloon(h->q, 1ULL << 30, on_reply, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "reply balloon err=ECONNRESET");
	assert_state(h, QMP_DISCONNECTED);
	assert_contains(qmp_last_error(h->q), "QEMU closed the connection before its greeting");
	h_close(h);
}

/*
 * QEMU quits and comes back (a VM restart): connecting while it's gone fails cleanly, and once
 * it's back the client greets and negotiates afresh (the version changes with it).
 */
static void reconnect_after_qemu_restarts(void **state)
{
	struct h *h = h_open("real-no-balloon.txt");
	const __u64 t = TIMEOUT_NS;

	(void)state;
	h_ready(h);
	assert_string_equal(qmp_qemu_version(h->q), "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
	/* replay the transcript to its end, where QEMU quits */
	assert_int_equal(qmp_query_balloon(h->q, NULL, NULL, t, h->now_ns), 0);
	assert_int_equal(qmp_balloon(h->q, 64ULL << 20, NULL, NULL, t, h->now_ns), 0);
	assert_int_equal(qmp_get_guest_stats(h->q, "balloon0", NULL, NULL, t, h->now_ns), 0);
	assert_int_equal(qmp_send(h->q, "no-such-command", NULL, NULL, NULL, t, h->now_ns), 0);
	assert_int_equal(qmp_send(h->q, "quit", NULL, NULL, NULL, t, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_DISCONNECTED);
	fake_stop(&h->f);

	assert_int_equal(qmp_connect(h->q, t, h->now_ns), -ENOENT);
	assert_state(h, QMP_DISCONNECTED);
	assert_contains(qmp_last_error(h->q), "connect: No such file or directory");

	fake_load(&h->f, "greeting.txt");
	fake_listen(&h->f);
	assert_int_equal(qmp_connect(h->q, t, h->now_ns), 0);
	assert_string_equal(qmp_qemu_version(h->q), "");
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, t, h->now_ns), 0);
	settle(h);
	assert_state(h, QMP_READY);
	assert_string_equal(qmp_qemu_version(h->q), "7.2.0 (Debian 1:7.2+dfsg-7+deb12u18)");
	assert_log(h,
		   "event SHUTDOWN data={\"guest\":false,\"reason\":\"host-qmp-quit\"} "
		   "ts=1795705349509876",
		   "balloon-info actual=2147483648");
	assert_int_equal(qmp_connect(h->q, t, h->now_ns), -EISCONN);
	h_close(h);
}

/* Through the client: unknown stats (-1, (uint64_t)-1, missing) stay unknown; 0 is 0. */
static void guest_stats_unknown_are_not_zero(void **state)
{
	struct h *h = h_open("guest-stats-partial.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(
		qmp_get_guest_stats(h->q, "balloon0", on_guest_stats, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	assert_log(h, "stats total=215810048 available=? free=185876480 caches=? major=? "
		      "minor=1227 swap_in=0 swap_out=0 htlb_alloc=? htlb_fail=? "
		      "last_update=1795705402");
	h_close(h);
}

/* The parsers alone, on the shapes that matter; out-params untouched on failure. */
static void parsers_on_literals(void **state)
{
	struct qmp_guest_stats s, untouched;
	json_object *o;
	__u64 actual = 42;

	(void)state;
	o = json_tokener_parse("{\"stats\": {\"stat-total-memory\": 0, \"stat-free-memory\": "
			       "\"lots\", \"stat-swap-in\": 1.5, \"stat-available-memory\": "
			       "9223372036854775808}}");
	assert_int_equal(qmp_parse_guest_stats(o, &s), 0);
	assert_true(s.has_total);
	assert_int_equal(s.total_bytes, 0);
	assert_false(s.has_free);    /* not a number */
	assert_false(s.has_swap_in); /* not an integer */
	assert_true(s.has_available);
	assert_true(s.available_bytes == 9223372036854775808ULL); /* above INT64_MAX is fine */
	assert_int_equal(s.last_update_s, 0);			  /* missing: never */
	json_object_put(o);

	memset(&untouched, 0x5a, sizeof(untouched));
	s = untouched;
	o = json_tokener_parse("{\"last-update\": 5}");
	assert_int_equal(qmp_parse_guest_stats(o, &s), -EBADMSG);
	assert_memory_equal(&s, &untouched, sizeof(s));
	json_object_put(o);
	assert_int_equal(qmp_parse_guest_stats(NULL, &s), -EBADMSG);

	o = json_tokener_parse("{\"actual\": 1073741824}");
	assert_int_equal(qmp_parse_balloon_info(o, &actual), 0);
	assert_true(actual == 1073741824ULL);
	json_object_put(o);
	actual = 42;
	o = json_tokener_parse("{\"actual\": -5}");
	assert_int_equal(qmp_parse_balloon_info(o, &actual), -EBADMSG);
	json_object_put(o);
	o = json_tokener_parse("{}");
	assert_int_equal(qmp_parse_balloon_info(o, &actual), -EBADMSG);
	json_object_put(o);
	assert_int_equal(qmp_parse_balloon_info(NULL, &actual), -EBADMSG);
	assert_true(actual == 42);
}

/* A reply of 1 MB goes through; one over QMP_MAX_MSG_BYTES breaks the session. */
static void oversize_message_breaks_the_session(void **state)
{
	const size_t fits = 1000 * 1000, over = QMP_MAX_MSG_BYTES + 4096;
	char *big = malloc(over + 128);
	struct h *h = h_open("ready.txt");
	int n;

	(void)state;
	assert_non_null(big);
	h_ready(h);
	assert_int_equal(qmp_send(h->q, "query-version", NULL, NULL, NULL, TIMEOUT_NS, h->now_ns),
			 0);
	settle(h);
	n = snprintf(big, 64, "{\"return\": {\"x\": \"");
	memset(big + n, 'A', fits);
	n += snprintf(big + n + fits, 64, "\"}, \"id\": %lld}\r\n", h->f.last_client_id);
	fake_send_raw(&h->f, big, (size_t)n + fits);
	settle(h);
	assert_state(h, QMP_READY);

	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	settle(h);
	n = snprintf(big, 64, "{\"return\": {\"actual\": \"");
	memset(big + n, 'A', over);
	n += snprintf(big + n + over, 64, "\"}, \"id\": %lld}\r\n", h->f.last_client_id);
	fake_send_raw(&h->f, big, (size_t)n + over);
	settle(h);
	assert_state(h, QMP_BROKEN);
	assert_int_equal(h->end_err, -EMSGSIZE);
	assert_contains(qmp_last_error(h->q), "a message over 1048576 bytes");
	assert_contains(qmp_last_error(h->q), "'{\"return\": {\"actual\": \"AAAAAAAAAAAAAAAAA...'");
	assert_log(h, "balloon-info err=ECONNRESET");
	free(big);
	h_close(h);
}

/* What waits to go out is bounded too: a QEMU that never reads can't make us grow. */
static void send_queue_is_bounded(void **state)
{
	struct h *h = h_open("silent.txt");
	const size_t len = QMP_MAX_MSG_BYTES / 2 + 1;
	char *s = malloc(len + 1);
	json_object *args;

	(void)state;
	assert_non_null(s);
	memset(s, 'x', len);
	s[len] = '\0';
	assert_int_equal(qmp_connect(h->q, TIMEOUT_NS, h->now_ns), 0);
	args = json_object_new_object();
	json_object_object_add(args, "blob", json_object_new_string(s));
	assert_int_equal(qmp_send(h->q, "x-blob", args, on_reply, h, TIMEOUT_NS, h->now_ns), 0);
	args = json_object_new_object();
	json_object_object_add(args, "blob", json_object_new_string(s));
	assert_int_equal(qmp_send(h->q, "x-blob", args, on_reply, h, TIMEOUT_NS, h->now_ns),
			 -ENOBUFS);
	assert_no_log(h); /* a refused command never calls back */
	free(s);
	h_close(h);
	/* qmp_free answered the queued one */
}

/* Calls that can't work say so, without side effects. */
static void api_refuses_misuse(void **state)
{
	char long_path[200];
	struct qmp *q;

	(void)state;
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	errno = 0;
	assert_null(qmp_new(long_path));
	assert_int_equal(errno, ENAMETOOLONG);
	assert_null(qmp_new(""));
	assert_int_equal(errno, EINVAL);

	q = qmp_new("/nonexistent/dynmem-test.qmp");
	assert_non_null(q);
	assert_string_equal(qmp_state_name(qmp_state(q)), "disconnected");
	assert_int_equal(qmp_fd(q), -1);
	assert_false(qmp_want_write(q));
	assert_int_equal(qmp_send(q, "query-status", NULL, NULL, NULL, TIMEOUT_NS, T0_NS),
			 -ENOTCONN);
	assert_int_equal(
		qmp_send(q, "query-status", json_object_new_array(), NULL, NULL, TIMEOUT_NS, T0_NS),
		-EINVAL); /* args must be an object; taken over all the same */
	assert_int_equal(qmp_send(q, "query-status", NULL, NULL, NULL, 0, T0_NS), -EINVAL);
	assert_int_equal(qmp_balloon(q, 0, NULL, NULL, TIMEOUT_NS, T0_NS), -EINVAL);
	assert_int_equal(qmp_set_stats_interval(q, "", 1, NULL, NULL, TIMEOUT_NS, T0_NS), -EINVAL);
	assert_int_equal(qmp_connect(q, 0, T0_NS), -EINVAL);
	assert_int_equal(qmp_connect(q, TIMEOUT_NS, T0_NS), -ENOENT);
	assert_string_equal(qmp_last_error(q), "/nonexistent/dynmem-test.qmp: connect: No such "
					       "file or directory (is QEMU running?)");
	assert_int_equal(qmp_tick(q, T0_NS), 0);
	assert_string_equal(qmp_state_name((enum qmp_state)99), "?");
	qmp_close(q); /* nothing to close: harmless */
	qmp_free(q);
	qmp_free(NULL);
}

/* The owner closing or freeing the client answers every pending command with -ECANCELED. */
static void close_and_free_cancel_pending(void **state)
{
	struct h *h = h_open("ready.txt");

	(void)state;
	h_ready(h);
	assert_int_equal(qmp_query_balloon(h->q, on_balloon_info, h, TIMEOUT_NS, h->now_ns), 0);
	qmp_close(h->q);
	assert_log(h, "balloon-info err=ECANCELED");
	assert_state(h, QMP_DISCONNECTED);
	assert_int_equal(qmp_fd(h->q), -1);
	assert_string_equal(qmp_last_error(h->q), ""); /* not an error */

	fake_load(&h->f, "ready.txt");
	settle(h);
	h_ready(h);
	assert_int_equal(qmp_balloon(h->q, 1ULL << 30, on_reply, h, TIMEOUT_NS, h->now_ns), 0);
	qmp_free(h->q);
	h->q = NULL;
	assert_log(h, "reply balloon err=ECANCELED");
	h_close(h);
}

/*
 * The fixtures live in the source tree: $DYNMEM_FIXTURES, ./tests/fixtures when run from the
 * top directory (make), else found from the binary's place in .output/tests/.
 */
static int find_fixtures(void **state)
{
	const char *env = getenv("DYNMEM_FIXTURES");
	char exe[PATH_MAX], probe[PATH_MAX + 16];
	struct stat st;
	ssize_t n;

	(void)state;
	if (env) {
		snprintf(fixtures, sizeof(fixtures), "%s", env);
	} else if (!stat("tests/fixtures/qmp", &st)) {
		snprintf(fixtures, sizeof(fixtures), "tests/fixtures");
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -1;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (snprintf(fixtures, sizeof(fixtures), "%s/../../tests/fixtures", exe) >=
		    (int)sizeof(fixtures))
			return -1;
	}
	snprintf(probe, sizeof(probe), "%s/qmp", fixtures);
	if (stat(probe, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "test_qmp: no fixtures at %s (set DYNMEM_FIXTURES)\n", probe);
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(greeting_negotiation_then_queued_command),
		cmocka_unit_test(real_guest_transcript),
		cmocka_unit_test(real_guest_transcript_cut_in_halves),
		cmocka_unit_test(real_guest_transcript_byte_by_byte),
		cmocka_unit_test(real_paused_balloon_transcript),
		cmocka_unit_test(real_no_balloon_errors_then_quit),
		cmocka_unit_test(events_between_command_and_reply),
		cmocka_unit_test(reply_cut_in_half_waits_for_the_rest),
		cmocka_unit_test(two_replies_and_an_event_in_one_read),
		cmocka_unit_test(callback_may_close_mid_read),
		cmocka_unit_test(garbage_breaks_the_session),
		cmocka_unit_test(error_reply_is_eremoteio),
		cmocka_unit_test(timeout_breaks_the_session_then_reconnect),
		cmocka_unit_test(on_readable_alone_enforces_deadlines),
		cmocka_unit_test(replies_matched_by_id),
		cmocka_unit_test(odd_return_is_ebadmsg),
		cmocka_unit_test(greeting_timeout),
		cmocka_unit_test(refused_capabilities_breaks),
		cmocka_unit_test(eof_mid_command),
		cmocka_unit_test(eof_mid_message_then_reconnect),
		cmocka_unit_test(eof_before_greeting),
		cmocka_unit_test(reconnect_after_qemu_restarts),
		cmocka_unit_test(guest_stats_unknown_are_not_zero),
		cmocka_unit_test(parsers_on_literals),
		cmocka_unit_test(oversize_message_breaks_the_session),
		cmocka_unit_test(send_queue_is_bounded),
		cmocka_unit_test(api_refuses_misuse),
		cmocka_unit_test(close_and_free_cancel_pending),
	};

	return cmocka_run_group_tests(tests, find_fixtures, NULL);
}
