/*
 * deadletter: builds and produces dead-letter records: the delivery record
 * plus reason and deadLetteredAt for deliveries, and the raw record with its
 * error for records that are not valid input (DESIGN section 3), with Kafka
 * Connect-style headers (__connect.errors.*) so existing dead-letter
 * browsers show them.  A dead letter is never lost to its own format: when
 * the full form cannot be built or is over the producer's size limit, the
 * compact form (metadata, the raw value's first bytes, rawSize, rawSha256,
 * rawTruncated) is produced instead.  Any thread.
 */
#ifndef BRIDGE_DEADLETTER_H
#define BRIDGE_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "producer.h"

struct conf;
struct delivery;

/* Where a record came from. */
struct deadletter_source {
    const char *topic; /* may be NULL (unknown) */
    int32_t partition;
    int64_t offset;
};

/* The value of a dead letter for raw bytes that are not valid input (reason
 * "invalid_event", or "record_too_large" for a delay record that can no
 * longer be produced): at most max bytes, never NULL (malloc'd; *lenp gets
 * its length).  Pure. */
char *deadletter_raw_value(const struct deadletter_source *src, const char *reason,
                           const char *error, const void *raw, size_t len, int64_t now_ms,
                           size_t max, size_t *lenp);

/* The value of a delivery's dead letter; error is the summary kept when only
 * the compact form fits.  At most max bytes, never NULL.  Pure. */
char *deadletter_delivery_value(const struct delivery *dl, const char *reason, const char *error,
                                int64_t now_ms, size_t max, size_t *lenp);

/* Produces dl's dead letter for reason; done(arg, status, error) once it is
 * durable, or abandoned at shutdown (producer.h).  One the topic refuses
 * for good is held (logged as an error, counted here) and produced again
 * every PRODUCER_HOLD_BACKOFF_MS (producer_held counts them): done is not
 * called meanwhile, so the caller's source offset stays unstored. */
void deadletter_delivery(struct producer *p, const struct conf *conf, const struct delivery *dl,
                         const char *reason, producer_done_cb *done, void *arg);

/* Produces the dead letter of a record that is not valid input: error says
 * what is wrong; raw is the record's value (may be NULL), key its key (may
 * be NULL). */
void deadletter_raw(struct producer *p, const struct conf *conf, const char *reason,
                    const struct deadletter_source *src, const void *key, size_t key_len,
                    const void *raw, size_t len, const char *error, producer_done_cb *done,
                    void *arg);

#endif
