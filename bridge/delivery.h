/*
 * delivery: one (event, endpoint) pair on its way, with its attempt history,
 * and its record form on the delay and dead-letter topics (DESIGN section 3).
 *
 * Ownership: a delivery has exactly one owner at a time: the thread that
 * created it, then the delivery workers (deliver_submit), then the done
 * callback, then the producer's delivery report.  Whoever holds it may
 * change it; nobody else reads it.  The body is shared, immutable and
 * reference counted, so the deliveries of one event share one copy.
 *
 * Memory: the router makes an event's deliveries in one allocation with the
 * body (delivery_new_event): the body's bytes, then the deliveries, then
 * their strings.  The body's reference count counts the deliveries; the
 * last delivery_destroy hands the whole block to its home (a payload_home),
 * and the thread that made it frees it there (payload_home_drain): the
 * allocator's arena is then only ever touched by that thread, no lock is
 * taken across threads.  A delivery made alone (delivery_new: the delay
 * records, the tools) is one allocation with its strings and references
 * its body.  A delivery keeps its first attempt in itself; more attempts,
 * their texts and strings replaced after creation (delivery_set_url,
 * delivery_set_source) are allocations of their own, freed at once by
 * delivery_destroy on whatever thread it runs.
 */
#ifndef BRIDGE_DELIVERY_H
#define BRIDGE_DELIVERY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

struct endpoint;
struct offsets_entry;

struct payload_home;

/* An immutable, reference-counted byte buffer (the Event JSON), possibly
 * followed in its allocation by the deliveries made with it. */
struct payload {
    atomic_int refs;
    size_t len;
    struct payload_home *home; /* where the last unref sends it, or NULL: freed at once */
    struct payload *next_home; /* the home's list */
    char data[];               /* NUL-terminated after len bytes */
};

struct payload *payload_new(const void *data, size_t len);
struct payload *payload_ref(struct payload *p);
/* Drops a reference; the last one frees p, or pushes it onto its home. */
void payload_unref(struct payload *p);

/* Where the allocations of one thread come back to be freed on it: any
 * thread pushes (lock-free), the owning thread drains.  Zero-initialised
 * is empty. */
struct payload_home {
    _Atomic(struct payload *) head;
};

/* Frees every payload pushed onto h so far.  Thread: h's owner (or any
 * thread once no other can push). */
void payload_home_drain(struct payload_home *h);

/* What an attempt's answer means, decided where the answer is read. */
enum delivery_outcome {
    OUTCOME_NONE = 0, /* not attempted (e.g. aborted at shutdown before it started) */
    OUTCOME_SUCCESS,  /* 2xx */
    OUTCOME_RETRY,    /* any other answer or transport error: retried within the window */
    OUTCOME_GONE,     /* 410 Gone: permanent */
    OUTCOME_DEFERRED, /* not attempted: the endpoint's circuit is open; park it */
};

#define ATTEMPT_ERROR_MAX 256
#define ATTEMPT_RESPONSE_MAX 1024
/* The attempt history a delivery keeps (and its records carry): the first
 * ATTEMPTS_KEEP_FIRST and the latest ATTEMPTS_KEEP_LATEST attempts, and a
 * count of those in between (attemptsOmitted), so a long window with short
 * intervals cannot grow a record without bound. */
#define ATTEMPTS_KEEP_FIRST 5
#define ATTEMPTS_KEEP_LATEST 15
/* More omitted attempts than this is not a record the bridge wrote (a 1 ms
 * interval over a day makes 86.4 million). */
#define ATTEMPTS_OMITTED_MAX 100000000

struct attempt {
    int n;               /* 1-based attempt number */
    int64_t at_ms;       /* epoch ms when the request started */
    int64_t duration_ms; /* until the answer or the error */
    int status;          /* HTTP status, 0 when there was no answer */
    char *error;         /* NULL, or the transport error ("timeout", ...) */
    char *response;      /* NULL, or the answer's first bytes (ATTEMPT_RESPONSE_MAX at
                            most, NUL-terminated, not necessarily text); kept in
                            memory only, not in delivery records */
    size_t response_len;
};

struct delivery {
    struct delivery *next; /* link for whichever queue holds it */

    char id[UTIL_UUID_LEN]; /* deliveryId */
    /* The strings live in the delivery's allocation (see Memory above), or
     * are replacements it owns (own_url, own_topic): set them with
     * delivery_set_url and delivery_set_source, never free them. */
    const char *event_id;
    const char *event_type;
    const char *account_id;
    const char *endpoint_id;
    const char *url;      /* the endpoint's URL when dispatched */
    struct endpoint *ep;  /* a reference to the endpoint as dispatched (secrets), or NULL */
    struct payload *body; /* the Event object JSON, POSTed as is */

    int64_t first_attempt_ms; /* 0 until the first attempt */
    int64_t due_ms;           /* nominal due time of the next attempt */
    struct attempt *attempts; /* the kept history (see ATTEMPTS_KEEP_FIRST) */
    size_t n_attempts;        /* entries in attempts */
    size_t attempts_omitted;  /* attempts made but no longer kept */

    const char *source_topic; /* where the event came from, or NULL */
    int32_t source_partition;
    int64_t source_offset;
    char *replayed_from; /* reserved for the dead-letter tool; NULL */

    int deferrals; /* times the circuit breaker parked it unattempted ("deferred") */

    /* Set by the worker after an attempt. */
    enum delivery_outcome outcome;
    int64_t retry_after_ms; /* 0, or the epoch ms a Retry-After asked us to wait until */

    /* Set by the pipeline, not serialised: the window's last chance, which
     * an open circuit does not defer while the endpoint is under its cap. */
    int last_chance;

    /* Bookkeeping of the thread that consumed the record. */
    struct offsets_entry *entry; /* released once the delivery is resolved */
    int64_t record_ts_ms;        /* the consumed record's Kafka timestamp (latency) */

    /* Memory (delivery.c only). */
    int in_body;          /* lives in body's allocation (delivery_new_event) */
    size_t attempts_cap;  /* entries attempts has room for */
    char *own_url;        /* url when replaced after creation, or NULL */
    char *own_topic;      /* source_topic when set after creation, or NULL */
    struct attempt first; /* attempts' room until a second attempt */
};

/* A new delivery for an event (fields copied into its allocation, body
 * referenced), with a fresh deliveryId and no attempts. */
struct delivery *delivery_new(const char *event_id, const char *event_type, const char *account_id,
                              const char *endpoint_id, const char *url, struct payload *body);

/* What the deliveries of one consumed event share. */
struct delivery_event {
    const char *event_id;
    const char *event_type;
    const char *account_id;
    const char *source_topic;
    int32_t source_partition;
    int64_t source_offset;
    const void *body; /* the event's bytes, copied */
    size_t body_len;
};

/* The n >= 1 deliveries of ev, one to each of eps (each takes over the
 * reference to its endpoint, as dl->ep), made in one allocation with a copy
 * of the body, with fresh deliveryIds and no attempts; linked through
 * ->next in eps' order, the first returned.  The last of them destroyed
 * sends the allocation to home (NULL: frees it there). */
struct delivery *delivery_new_event(const struct delivery_event *ev, struct endpoint *const *eps,
                                    size_t n, struct payload_home *home);

/* Frees what dl owns and drops its body (see Memory above). */
void delivery_destroy(struct delivery *dl);

/* Replaces the URL (a copy). */
void delivery_set_url(struct delivery *dl, const char *url);

/* Appends an attempt (numbered after every attempt made so far); error may
 * be NULL, and is kept cut to ATTEMPT_ERROR_MAX bytes on a character
 * boundary, invalid UTF-8 repaired.  When the history is full the oldest of
 * the latest attempts is dropped and counted.  Returns the new attempt. */
struct attempt *delivery_add_attempt(struct delivery *dl, int64_t at_ms, int64_t duration_ms,
                                     int status, const char *error);
/* Attempts made so far, the omitted ones included. */
size_t delivery_attempt_count(const struct delivery *dl);
const struct attempt *delivery_last_attempt(const struct delivery *dl);

/* Keeps the first ATTEMPT_RESPONSE_MAX bytes of an answer's body in a. */
void delivery_set_response(struct attempt *a, const char *body, size_t len);

/* Sets the source (the topic copied; NULL for none). */
void delivery_set_source(struct delivery *dl, const char *topic, int32_t partition, int64_t offset);

/* The delay-topic record value (DESIGN section 3), as a malloc'd string;
 * *lenp gets its length.  The event is embedded byte for byte.  NULL when a
 * field cannot be put into JSON (the caller dead-letters the delivery in
 * its minimal form: deadletter.c). */
char *delivery_to_record(const struct delivery *dl, size_t *lenp);

/* An attempt's members (attempt, at, durationMs, status, error) into the
 * object w has open: the same in delay records and attempt records. */
struct jsonw;
void delivery_write_attempt(struct jsonw *w, const struct attempt *a);

/* The record's fields but the event, as a JSON object (new reference), or
 * NULL when one cannot be built. */
json_t *delivery_record_meta(const struct delivery *dl);

/* The dead-letter record value: the delay record plus "reason" and
 * "deadLetteredAt"; NULL as for delivery_to_record. */
char *delivery_to_dead_letter(const struct delivery *dl, const char *reason,
                              int64_t dead_lettered_at_ms, size_t *lenp);

/* Parses a delay-topic record value back into a delivery.  Returns NULL with
 * the reason in errstr when the record is not a valid delivery record. */
struct delivery *delivery_from_record(const void *value, size_t len, char *errstr,
                                      size_t errstr_size);

#endif
