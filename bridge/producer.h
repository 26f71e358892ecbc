/*
 * producer: the bridge's one idempotent producer (acks=all) for the delay
 * and dead-letter topics.  A record is handed over with a callback that runs
 * once it is durable; a record Kafka refuses is produced again after a
 * backoff, for as long as it takes, so nothing handed over is ever dropped
 * while the daemon runs.  At shutdown what is still undelivered after the
 * flush deadline is reported as not durable.
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

/* durable: 1 when Kafka acknowledged the record, 0 when it was given up at
 * shutdown. */
typedef void producer_done_cb(void *arg, int durable);

#define PRODUCER_MAX_HEADERS 8
/* Ends producer_send's header list (a typed NULL, as variadic calls need). */
#define PRODUCER_END ((const char *)NULL)

int producer_start(struct producer **pp, const struct conf *conf, const char *bootstrap,
                   char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Produces value (ownership taken; freed by the producer) to topic with key
 * and up to PRODUCER_MAX_HEADERS headers given as name, value pairs ending
 * with PRODUCER_END.  Any thread. */
void producer_send(struct producer *p, const char *topic, const char *key, char *value, size_t len,
                   producer_done_cb *done, void *arg, ...) __attribute__((sentinel));

/* Waits until everything handed over is durable or deadline_ms
 * (util_mono_ms clock) passes.  Returns the number of records still
 * outstanding.  Thread: main. */
long producer_flush(struct producer *p, int64_t deadline_ms);

/* Stops the poll thread; outstanding records are reported not durable.
 * Thread: main. */
void producer_stop(struct producer *p);

/* Records handed over and not yet reported. */
long producer_outstanding(const struct producer *p);

#endif
