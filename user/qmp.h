/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A non-blocking QMP client for one epoll loop: one struct qmp per QEMU monitor socket, a state
 * machine that never blocks, so a QEMU that hangs or talks garbage costs its own session and
 * nothing else. Time is always passed in (now_ns, any monotonic clock), never read here.
 *
 *   disconnected --qmp_connect--> connecting --> greeting --> negotiating --> ready
 *        ^                                                                     |
 *        +---- EOF, ECONNRESET, qmp_close ------------------------------------+
 *   broken <---- garbage, an over-long message, a timeout (any state) ---------+
 *
 * disconnected and broken both mean "no socket": the owner decides when to qmp_connect again
 * (broken says QEMU misbehaved, which may deserve a longer back-off). After any call the fd
 * may have changed (closed, or a new one after a reconnect): re-read qmp_fd() and
 * qmp_want_write() and update epoll. Watch the fd level-triggered for EPOLLIN, plus EPOLLOUT
 * while qmp_want_write().
 *
 * Callbacks run from qmp_on_readable(), qmp_on_writable(), qmp_tick(), qmp_close() and
 * qmp_free(), never from qmp_send() or qmp_connect(). They may send, close or reconnect, but
 * must not qmp_free() the client.
 */
#ifndef DYNMEM_QMP_H
#define DYNMEM_QMP_H

#include <stdbool.h>
#include <linux/types.h>
#include <json-c/json_object.h>

/* One message from QEMU (or all commands waiting to go out) may not exceed this. */
#define QMP_MAX_MSG_BYTES (1024 * 1024)
/* How much of a bad message qmp_last_error() quotes. */
#define QMP_GARBAGE_QUOTE_BYTES 40

enum qmp_state {
	QMP_DISCONNECTED,
	QMP_CONNECTING,	 /* connect() in progress: wait for EPOLLOUT */
	QMP_GREETING,	 /* connected, waiting for {"QMP": ...} */
	QMP_NEGOTIATING, /* qmp_capabilities sent */
	QMP_READY,
	QMP_BROKEN,
};

struct qmp;

/* The outcome of one command, valid only during the callback. */
struct qmp_reply {
	const char *command; /* the command's name, as sent */
	/*
	 * 0           ret holds the "return" value;
	 * -EREMOTEIO  QEMU refused: error_class, error_desc are its words;
	 * -ETIMEDOUT  no reply in time (the session is dropped: state broken);
	 * -ECONNRESET the session ended before the reply (EOF, reset, garbage, another timeout);
	 * -ECANCELED  the owner closed or freed the client;
	 * -EBADMSG    (typed wrappers) a "return" that lacks what the command promises.
	 */
	int err;
	json_object *ret;	 /* borrowed: json_object_get() it to keep it */
	const char *error_class; /* with -EREMOTEIO, e.g. "GenericError", "DeviceNotActive" */
	const char *error_desc;	 /* non-NULL whenever err != 0 */
};

/* Guest-reported memory statistics (virtio-balloon, qom-get ... guest-stats). */
struct qmp_guest_stats {
	__u64 total_bytes;	 /* stat-total-memory */
	__u64 available_bytes;	 /* stat-available-memory: MemAvailable */
	__u64 free_bytes;	 /* stat-free-memory */
	__u64 disk_caches_bytes; /* stat-disk-caches */
	__u64 major_faults;	 /* stat-major-faults: count since guest boot */
	__u64 minor_faults;	 /* stat-minor-faults */
	__u64 swap_in_bytes;	 /* stat-swap-in: the virtio spec counts bytes */
	__u64 swap_out_bytes;	 /* stat-swap-out */
	__u64 htlb_pgalloc;	 /* stat-htlb-pgalloc: hugetlb pages allocated */
	__u64 htlb_pgfail;	 /* stat-htlb-pgfail */
	__s64 last_update_s; /* host time (s since the epoch) of the guest's last report; 0 never */
	/* false: the guest doesn't report it (QEMU says -1 as u64, or leaves it out); value 0 */
	bool has_total, has_available, has_free, has_disk_caches, has_major_faults;
	bool has_minor_faults, has_swap_in, has_swap_out, has_htlb_pgalloc, has_htlb_pgfail;
};

typedef void (*qmp_reply_fn)(struct qmp *q, const struct qmp_reply *r, void *ctx);
/* actual_bytes is valid when r->err == 0 */
typedef void (*qmp_balloon_info_fn)(struct qmp *q, const struct qmp_reply *r, __u64 actual_bytes,
				    void *ctx);
/* stats is NULL unless r->err == 0 */
typedef void (*qmp_guest_stats_fn)(struct qmp *q, const struct qmp_reply *r,
				   const struct qmp_guest_stats *stats, void *ctx);
/* data may be NULL; timestamp_us is QEMU's wall clock, -1 when missing */
typedef void (*qmp_event_fn)(struct qmp *q, const char *event, json_object *data,
			     __s64 timestamp_us, void *ctx);

/* NULL with errno: EINVAL (empty path), ENAMETOOLONG (longer than sun_path), ENOMEM. */
struct qmp *qmp_new(const char *socket_path);
/* Pending commands get -ECANCELED first. */
void qmp_free(struct qmp *q);
void qmp_set_event_fn(struct qmp *q, qmp_event_fn fn, void *ctx);

/*
 * Starts a non-blocking connect; greeting and negotiation follow from the loop and must be over
 * within timeout_ns (else broken). 0: under way; -EISCONN: a session exists (qmp_close first);
 * -ENOENT, -ECONNREFUSED, -EAGAIN...: QEMU isn't there (state disconnected, last error set).
 */
int qmp_connect(struct qmp *q, __u64 timeout_ns, __u64 now_ns);
/* Ends the session: pending commands get -ECANCELED; state disconnected. */
void qmp_close(struct qmp *q);

int qmp_fd(const struct qmp *q); /* -1 without a socket */
bool qmp_want_write(const struct qmp *q);
/*
 * Advance the state machine; each also expires overdue commands. 0 while the session that was
 * there at the call goes on, else why it ended (-ECONNRESET, -EPROTO, -EMSGSIZE, -ETIMEDOUT...).
 */
int qmp_on_readable(struct qmp *q, __u64 now_ns);
int qmp_on_writable(struct qmp *q, __u64 now_ns);
int qmp_tick(struct qmp *q, __u64 now_ns);
/* The earliest command or handshake deadline, for the loop's timer; 0 when none. */
__u64 qmp_next_deadline_ns(const struct qmp *q);

enum qmp_state qmp_state(const struct qmp *q);
const char *qmp_state_name(enum qmp_state state);
/* The last failure, ready for an operator ("/run/vm1.qmp: ..."); "" if none yet. */
const char *qmp_last_error(const struct qmp *q);
/* From the greeting, e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"; "" before it. */
const char *qmp_qemu_version(const struct qmp *q);

/*
 * Queues {"execute": cmd, "arguments": args, "id": N}: sent at once when ready, else as soon as
 * negotiation is over. args (NULL or an object) is taken over, also on failure. cb may be NULL.
 * The reply (or failure) comes through cb once, however the session ends. timeout_ns > 0 counts
 * from now_ns, including any wait for the handshake.
 * -ENOTCONN: disconnected or broken; -ENOBUFS: QMP_MAX_MSG_BYTES already waiting to go out;
 * -EINVAL; -ENOMEM.
 */
int qmp_send(struct qmp *q, const char *cmd, json_object *args, qmp_reply_fn cb, void *ctx,
	     __u64 timeout_ns, __u64 now_ns);

/* balloon {"value": target_bytes}: the guest's new size (not the balloon's); > 0. */
int qmp_balloon(struct qmp *q, __u64 target_bytes, qmp_reply_fn cb, void *ctx, __u64 timeout_ns,
		__u64 now_ns);
/* query-balloon → the guest's current size. */
int qmp_query_balloon(struct qmp *q, qmp_balloon_info_fn cb, void *ctx, __u64 timeout_ns,
		      __u64 now_ns);
/*
 * qom-set guest-stats-polling-interval on device: a qdev id ("balloon0" →
 * /machine/peripheral/balloon0) or a QOM path starting with '/'. interval_s 0 stops polling.
 */
int qmp_set_stats_interval(struct qmp *q, const char *device, __u32 interval_s, qmp_reply_fn cb,
			   void *ctx, __u64 timeout_ns, __u64 now_ns);
/* qom-get guest-stats on device (as above). */
int qmp_get_guest_stats(struct qmp *q, const char *device, qmp_guest_stats_fn cb, void *ctx,
			__u64 timeout_ns, __u64 now_ns);

/* {"actual": N}, as in query-balloon's return and BALLOON_CHANGE's data. -EBADMSG if absent. */
int qmp_parse_balloon_info(json_object *obj, __u64 *ret_actual_bytes);
/* {"stats": {...}, "last-update": N}: guest-stats' value. -EBADMSG if "stats" isn't an object. */
int qmp_parse_guest_stats(json_object *obj, struct qmp_guest_stats *ret_stats);

#endif
