/*
 * metrics: every counter and histogram of the daemon, declared once in the
 * table below (name, help), which generates their storage and their output.
 * Counters are C11 atomics updated with relaxed ordering from any thread and
 * summed when read.
 */
#ifndef BRIDGE_METRICS_H
#define BRIDGE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* X(name, family, labels, help): name is the counter (M_<name>) and its key
 * in the stats log line; family and labels its Prometheus series
 * (webhook_bridge_<family>{<labels>}), "" for a counter not exported there;
 * the entries of one family are adjacent and the first one's help is the
 * family's. */
#define METRICS_COUNTERS(X)                                                                        \
    X(events_consumed, "events_consumed_total", "",                                                \
      "Event records consumed from the events topic")                                              \
    X(events_unrouted, "events_unrouted_total", "", "Valid events that matched no endpoint")       \
    X(deliveries_created, "deliveries_created_total", "",                                          \
      "Deliveries created, one per matching (event, endpoint)")                                    \
    X(attempts, "", "", "HTTP attempts made")                                                      \
    X(attempts_2xx, "attempts_total", "class=\"2xx\"",                                             \
      "HTTP attempts by the class of their answer (error: no HTTP answer)")                        \
    X(attempts_1xx, "attempts_total", "class=\"1xx\"", "")                                         \
    X(attempts_3xx, "attempts_total", "class=\"3xx\"", "")                                         \
    X(attempts_4xx, "attempts_total", "class=\"4xx\"", "")                                         \
    X(attempts_5xx, "attempts_total", "class=\"5xx\"", "")                                         \
    X(attempts_error, "attempts_total", "class=\"error\"", "")                                     \
    X(deliveries_succeeded, "delivery_outcomes_total", "outcome=\"delivered\"",                    \
      "Ends of attempts and parks: delivered (2xx), parked after a failure, deferred by an open "  \
      "circuit, parked unattempted at shutdown")                                                   \
    X(deliveries_parked, "delivery_outcomes_total", "outcome=\"parked\"", "")                      \
    X(deliveries_deferred, "delivery_outcomes_total", "outcome=\"deferred\"", "")                  \
    X(deliveries_parked_at_stop, "delivery_outcomes_total", "outcome=\"parked_at_stop\"", "")      \
    X(deliveries_isolated_share, "deliveries_isolated_total", "reason=\"share\"",                  \
      "Deliveries deferred (parked unattempted) to isolate their endpoint: beyond its share of "   \
      "delivery.max_in_flight, or answering slower than delivery.slow_answer")                     \
    X(deliveries_isolated_slow, "deliveries_isolated_total", "reason=\"slow\"", "")                \
    X(attempts_failed, "", "", "Attempts answered with a non-2xx status or a transport error")     \
    X(deliveries_retried, "deliveries_retried_total", "",                                          \
      "Parked deliveries taken from a delay topic for another attempt")                            \
    X(deliveries_reparked, "deliveries_reparked_total", "",                                        \
      "Delay records re-parked without an attempt (a Retry-After beyond the topic's interval)")    \
    X(dead_letters, "", "", "Records produced to the dead-letter topic")                           \
    X(dead_window_expired, "dead_letters_total", "reason=\"retry_window_expired\"",                \
      "Dead letters by reason")                                                                    \
    X(dead_gone, "dead_letters_total", "reason=\"endpoint_gone\"", "")                             \
    X(dead_removed, "dead_letters_total", "reason=\"endpoint_removed\"", "")                       \
    X(dead_disabled, "dead_letters_total", "reason=\"endpoint_disabled\"", "")                     \
    X(dead_changed, "dead_letters_total", "reason=\"endpoint_changed\"", "")                       \
    X(dead_too_large, "dead_letters_total", "reason=\"record_too_large\"", "")                     \
    X(dead_park_refused, "dead_letters_total", "reason=\"park_refused\"", "")                      \
    X(dead_invalid, "dead_letters_total", "reason=\"invalid_event\"", "")                          \
    X(dead_letters_refused, "dead_letters_refused_total", "",                                      \
      "Dead letters Kafka refused for good (size, authorization, unknown topic): their source "    \
      "offsets stay uncommitted and /readyz fails")                                                \
    X(events_invalid, "events_invalid_total", "",                                                  \
      "Event records that were not valid events (dead-lettered as invalid_event)")                 \
    X(produce_retries, "produce_retries_total", "",                                                \
      "Parked or dead-lettered records produced again after Kafka refused them")                   \
    X(delay_records_invalid, "delay_records_invalid_total", "",                                    \
      "Delay-topic records that were not delivery records")                                        \
    X(attempt_records_dropped, "attempt_records_dropped_total", "",                                \
      "Attempt records not written (producer queue full, or Kafka refused them); deliveries are "  \
      "not affected")                                                                              \
    X(registry_records_applied, "registry_records_applied_total", "",                              \
      "Endpoints-topic records applied to the registry")                                           \
    X(registry_records_invalid, "registry_records_invalid_total", "",                              \
      "Endpoints-topic records skipped because they did not validate")                             \
    X(records_skipped, "records_skipped_total", "",                                                \
      "Records skipped on assignment: the previous owner's commit listed them as resolved")        \
    X(partitions_paused_full, "partitions_paused_full_total", "",                                  \
      "Times a partition was paused with its offset tracker at its bound (records resolved "       \
      "behind an unresolved one)")                                                                 \
    X(fetch_wakeups, "kafka_fetch_wakeups_total", "",                                              \
      "Wakes of librdkafka's fetchers after the consumer's queue drained: calls that handed a "    \
      "ListOffsets request to a partition leader's broker thread (prefetch.h)")

enum metrics_counter {
#define METRICS_ENUM(name, family, labels, help) M_##name,
    METRICS_COUNTERS(METRICS_ENUM)
#undef METRICS_ENUM
        M__COUNT
};

extern atomic_llong metrics_counters[M__COUNT];

#define metrics_inc(c) atomic_fetch_add_explicit(&metrics_counters[c], 1, memory_order_relaxed)
#define metrics_add(c, n) atomic_fetch_add_explicit(&metrics_counters[c], (n), memory_order_relaxed)
#define metrics_get(c) atomic_load_explicit(&metrics_counters[c], memory_order_relaxed)

/* Millisecond histograms with fixed buckets: X(name, help); exported to
 * Prometheus in seconds as webhook_bridge_<name>_seconds. */
#define METRICS_HISTOGRAMS(X)                                                                      \
    X(delivery_latency, "Time from the event's Kafka timestamp to its successful first attempt")   \
    X(attempt_duration, "Duration of one HTTP attempt")                                            \
    X(retry_lateness, "Actual minus due time of retried deliveries")

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

/* Counts one attempt's answer in its class (status 0: no HTTP answer). */
void metrics_attempt_class(int status);

/* Appends the counters and histograms in the Prometheus text exposition
 * format (version 0.0.4) to a growing buffer: *buf (malloc'd, may be NULL
 * at first), *len, *cap. */
void metrics_prometheus(char **buf, size_t *len, size_t *cap);

/* Appends printf-formatted text to such a buffer. */
void metrics_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
