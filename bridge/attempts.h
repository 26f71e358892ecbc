/*
 * attempts: the attempts log.  Every HTTP attempt, first tries and retries
 * alike, becomes one record on kafka.topics.attempts, keyed by eventId
 * (docs/records.md): what a dashboard shows as "every attempt with its
 * status, and the latest response".  It has a producer of its own, tuned
 * for volume rather than durability (acks=1, batched, delivery reports for
 * failures only, a bounded queue), so that it costs the delivery path as
 * little as possible: a record that does not fit the queue, or that Kafka
 * refuses, is dropped with a counter and a warning at most every 10 s, and
 * never slows or loses a delivery.
 *
 * Threads: attempts_log from any thread (the workers); attempts_poll from
 * one thread (main's loop); start/stop on main.
 */
#ifndef BRIDGE_ATTEMPTS_H
#define BRIDGE_ATTEMPTS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct conf;
struct delivery;
struct attempts;

/* Starts the attempts log; *ap is NULL (and 0 returned) when
 * kafka.topics.attempts is "" (the log is off).  -1 with errstr when the
 * producer cannot be made. */
int attempts_start(struct attempts **ap, const struct conf *conf, const char *bootstrap,
                   char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Logs dl's last attempt.  a may be NULL (the log is off).  Never blocks. */
void attempts_log(struct attempts *a, const struct delivery *dl);

/* Serves the producer's reports (failures only).  Call now and then. */
void attempts_poll(struct attempts *a);

/* Flushes what is queued until deadline_ms (util_mono_ms clock), then drops
 * the rest, and frees everything.  NULL is fine.  Thread: main. */
void attempts_stop(struct attempts *a, int64_t deadline_ms);

/* The attempt record for dl's last attempt, as a malloc'd JSON string (its
 * length in *lenp), or NULL when dl has no attempt. */
char *attempts_record(const struct delivery *dl, size_t *lenp);

#endif
