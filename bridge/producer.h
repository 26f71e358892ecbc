/*
 * producer: the bridge's one idempotent producer (acks=all) for the delay
 * and dead-letter topics.  A record is handed over with a callback that runs
 * once it is durable; a record Kafka refuses is produced again after a
 * backoff, for as long as it takes, so nothing handed over is ever dropped
 * while the daemon runs.  A record refused for good (authorization, size)
 * is reported, and its callback may hold it: it is then produced again
 * every PRODUCER_HOLD_BACKOFF_MS (the dead letters, which have nowhere
 * else to go).  At shutdown what is still undelivered after the flush
 * deadline is reported as not durable.
 *
 * Threads: producer_send from any thread; callbacks run on the producer's
 * own poll thread.
 */
#ifndef BRIDGE_PRODUCER_H
#define BRIDGE_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct conf;
struct producer;

/* How a record handed to producer_send ended. */
enum producer_status {
    PRODUCER_ABANDONED = 0, /* given up at shutdown: not durable */
    PRODUCER_DURABLE = 1,   /* Kafka acknowledged it */
    PRODUCER_REFUSED = 2,   /* refused for good: authorization, an invalid record, or a topic
                               still unknown after a bounded wait */
    PRODUCER_TOO_LARGE = 3, /* over the size limit (the producer's or the broker's) */
    PRODUCER_RETRY = 4,     /* internal: not reported to callbacks */
};

/* What a callback answers.  PRODUCER_HOLD is heard only for
 * PRODUCER_REFUSED and PRODUCER_TOO_LARGE: the record is produced again
 * after PRODUCER_HOLD_BACKOFF_MS, and the callback runs again when that
 * ends (durable, refused again, or abandoned at shutdown). */
enum producer_verdict {
    PRODUCER_DONE = 0, /* the record's story ends here */
    PRODUCER_HOLD = 1  /* keep it and try again later */
};
#define PRODUCER_HOLD_BACKOFF_MS 10000

/* Runs on the producer's poll thread (or on the sending thread for a
 * record refused at once): once per record, or again after each
 * PRODUCER_HOLD; error names the Kafka error for PRODUCER_REFUSED and
 * PRODUCER_TOO_LARGE, else NULL.  A callback that answers PRODUCER_HOLD
 * must be ready for PRODUCER_ABANDONED next (shutdown). */
typedef enum producer_verdict producer_done_cb(void *arg, enum producer_status status,
                                               const char *error);

#define PRODUCER_MAX_HEADERS 8
/* Ends producer_send's header list (a typed NULL, as variadic calls need). */
#define PRODUCER_END ((const char *)NULL)

int producer_start(struct producer **pp, const struct conf *conf, const char *bootstrap,
                   char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Produces value (ownership taken; freed by the producer) to topic with key
 * and up to PRODUCER_MAX_HEADERS headers given as name, value pairs ending
 * with PRODUCER_END; the key and each header value are cut to
 * PRODUCER_FIELD_MAX bytes.  Any thread; the caller's thread blocks while
 * librdkafka's queue is full, except the producer's own poll thread (its
 * callbacks), for which that is a retry. */
void producer_send(struct producer *p, const char *topic, const char *key, char *value, size_t len,
                   producer_done_cb *done, void *arg, ...) __attribute__((sentinel));

/* Waits until everything handed over is durable or held, or deadline_ms
 * (util_mono_ms clock) passes.  Returns the number of records still
 * outstanding (held ones included).  Thread: main. */
long producer_flush(struct producer *p, int64_t deadline_ms);

/* Stops the poll thread; outstanding records are reported not durable.
 * Thread: main. */
void producer_stop(struct producer *p);

/* The largest record value the producer takes (its message.max.bytes). */
size_t producer_max_bytes(const struct producer *p);

/* Room kept below message.max.bytes for a record's key, headers and
 * framing; keys and header values are cut to PRODUCER_FIELD_MAX bytes, and
 * a record has at most PRODUCER_MAX_HEADERS headers, so they fit in it. */
#define PRODUCER_HEADROOM (16 * 1024)
#define PRODUCER_FIELD_MAX 1024

/* The largest value the bridge hands to producer_send: message.max.bytes
 * less PRODUCER_HEADROOM.  Every record is checked against it before it is
 * produced. */
size_t producer_value_max(const struct producer *p);

/* Records handed over and not yet reported. */
long producer_outstanding(const struct producer *p);

/* Of those, the records refused for good that a callback holds
 * (PRODUCER_HOLD: the dead letters).  Any thread. */
long producer_held(const struct producer *p);

#endif
