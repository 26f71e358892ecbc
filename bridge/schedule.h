/*
 * schedule: the retry rule of DESIGN section 5 as pure functions.  After
 * failure n the next attempt is due at due(n) + interval(n) (nominal due
 * times, so lateness never accumulates), interval(n) being the n-th entry of
 * retry.schedule with the last one repeating; n counts the slots used, each
 * an attempt or a circuit-breaker deferral; a Retry-After pushes it later;
 * past first attempt + window the delivery is dead-lettered; 410 Gone is
 * dead-lettered at once.  Also names the delay topics.
 */
#ifndef BRIDGE_SCHEDULE_H
#define BRIDGE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct delivery;

enum schedule_action { SCHEDULE_DONE, SCHEDULE_PARK, SCHEDULE_DEAD };

struct schedule_decision {
    enum schedule_action action;
    int64_t due_ms;      /* PARK: when the next attempt is due */
    int64_t interval_ms; /* PARK: the delay topic's interval */
    const char *reason;  /* DEAD: "retry_window_expired", "endpoint_gone" */
};

/* The interval after failure n (n >= 1). */
int64_t schedule_interval(const struct conf *conf, size_t n);

/* What happens to dl after the attempt just recorded in it (dl->outcome,
 * dl->due_ms = that attempt's nominal due time, dl->retry_after_ms). */
void schedule_next(const struct conf *conf, const struct delivery *dl,
                   struct schedule_decision *out);

/* What happens to dl, due at its slot dl->due_ms, when the circuit breaker
 * defers it (no attempt): the deferral uses the slot, and the next attempt
 * is due at the next nominal slot still after now_ms (slots already past
 * are passed, not attempted in a burst), or it is dead past the window.
 * Returns the number of slots passed (>= 1), for dl->deferrals. */
int schedule_deferred(const struct conf *conf, const struct delivery *dl, int64_t now_ms,
                      struct schedule_decision *out);

/* A Retry-After header's value (RFC 9110 section 10.2.3: delay-seconds or
 * an HTTP-date) as the epoch ms it asks to wait until, read at now_ms.
 * Returns 0 when the value is neither, or names a time not after now.
 * Huge values saturate at SCHEDULE_RETRY_AFTER_MAX_MS past now (far beyond
 * any window: such a delivery is dead-lettered at once). */
#define SCHEDULE_RETRY_AFTER_MAX_MS (400LL * 24 * 3600 * 1000)
int64_t schedule_retry_after(const char *value, int64_t now_ms);

/* "<prefix>-<interval>" with the interval in its shortest exact form. */
void schedule_topic_name(const char *prefix, int64_t interval_ms, char *buf, size_t size);

/* The distinct intervals of the schedule, in order (at most n_schedule);
 * returns how many were written. */
size_t schedule_distinct_intervals(const struct conf *conf, int64_t *out, size_t max);

#endif
