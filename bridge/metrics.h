/*
 * metrics: every counter and histogram of the daemon, declared once in the
 * table below (name, help), which generates their storage and their output.
 * Counters are C11 atomics updated with relaxed ordering from any thread and
 * summed when read.
 */
#ifndef BRIDGE_METRICS_H
#define BRIDGE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#define METRICS_COUNTERS(X)                                                                        \
    X(events_consumed, "Event records consumed from the events topic")                             \
    X(events_invalid, "Event records dead-lettered with reason invalid_event")                     \
    X(events_unrouted, "Valid events that matched no endpoint")                                    \
    X(deliveries_created, "Deliveries created, one per matching (event, endpoint)")                \
    X(attempts, "HTTP attempts made")                                                              \
    X(deliveries_succeeded, "Deliveries answered with a 2xx status")                               \
    X(attempts_failed, "Attempts answered with a non-2xx status or a transport error")             \
    X(deliveries_parked, "Deliveries parked on a delay topic after a failed attempt")              \
    X(deliveries_retried, "Parked deliveries taken from a delay topic for another attempt")        \
    X(deliveries_parked_at_stop, "Deliveries parked unattempted, due at once, at shutdown")        \
    X(deliveries_reparked, "Delay records re-parked without an attempt (long Retry-After)")        \
    X(deliveries_deferred,                                                                         \
      "Deliveries parked without an attempt: their endpoint's circuit was open")                   \
    X(dead_letters, "Records produced to the dead-letter topic")                                   \
    X(dead_window_expired, "Dead letters with reason retry_window_expired")                        \
    X(dead_gone, "Dead letters with reason endpoint_gone")                                         \
    X(dead_removed, "Dead letters with reason endpoint_removed")                                   \
    X(dead_disabled, "Dead letters with reason endpoint_disabled")                                 \
    X(produce_retries, "Produce attempts that failed and were retried")                            \
    X(delay_records_invalid, "Delay-topic records that were not delivery records")                 \
    X(attempt_records_dropped, "Attempt records not written (producer queue full, or Kafka "       \
                               "refused them); deliveries are not affected")                       \
    X(registry_records_applied, "Endpoints-topic records applied to the registry")                 \
    X(registry_records_invalid, "Endpoints-topic records skipped because they did not validate")

enum metrics_counter {
#define METRICS_ENUM(name, help) M_##name,
    METRICS_COUNTERS(METRICS_ENUM)
#undef METRICS_ENUM
        M__COUNT
};

extern atomic_llong metrics_counters[M__COUNT];

#define metrics_inc(c) atomic_fetch_add_explicit(&metrics_counters[c], 1, memory_order_relaxed)
#define metrics_add(c, n) atomic_fetch_add_explicit(&metrics_counters[c], (n), memory_order_relaxed)
#define metrics_get(c) atomic_load_explicit(&metrics_counters[c], memory_order_relaxed)

/* Millisecond histograms with fixed buckets. */
#define METRICS_HISTOGRAMS(X)                                                                      \
    X(delivery_latency, "Time from the event's Kafka timestamp to its successful delivery (ms)")   \
    X(attempt_duration, "Duration of one HTTP attempt (ms)")                                       \
    X(retry_lateness, "Actual minus due time of retried deliveries (ms)")

enum metrics_histogram {
#define METRICS_ENUM(name, help) H_##name,
    METRICS_HISTOGRAMS(METRICS_ENUM)
#undef METRICS_ENUM
        H__COUNT
};

/* Records one observation in ms (negative values count as 0). */
void metrics_observe(enum metrics_histogram h, int64_t ms);
/* Estimated q-quantile (0 < q < 1) in ms, from the buckets; -1 when empty. */
double metrics_quantile(enum metrics_histogram h, double q);
long long metrics_count(enum metrics_histogram h);
long long metrics_max(enum metrics_histogram h);

/* Every counter and histogram summary as a JSON object (for the stats log
 * line and the benchmark). */
json_t *metrics_snapshot(void);

#endif
