/*
 * prefetch: when to wake librdkafka's fetchers.  librdkafka 2.0.2 stops
 * fetching a partition while the consumer's queue holds more than
 * queued.max.messages.kbytes (or queued.min.messages records), and
 * decides again only when its broker thread next wakes: on a request,
 * a response, an op, or after up to one second (rd_kafka_max_block_ms in
 * rdkafka_broker.c, rdkafka_fetcher.c's fetch_decide).  Nothing wakes it
 * when the application drains the queue, so a bridge faster than one
 * queue's worth per second starved: 16 MiB of 1.5 KB events is about
 * 11,000 events, and up to a second could pass with none.  librdkafka
 * 2.4 added fetch.queue.backoff.ms for this; here the consumer loop
 * watches the queue fill and, once a queue that came near its limit has
 * drained to a quarter of it, sends a request to every fetching
 * partition's leader (consumer.c: a ListOffsets for the latest offset,
 * which changes nothing), whose broker thread then fetches again.
 *
 * Bookkeeping, and the reading of what the wake's call returned
 * (prefetch_wake_sent): the consumer thread owns a struct prefetch and
 * does the waking; tests/unit/test_prefetch.c drives the decisions, and
 * reads the call's results against librdkafka's own mock cluster.
 */
#ifndef BRIDGE_PREFETCH_H
#define BRIDGE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Wakes at most this often. */
#define PREFETCH_WAKE_MIN_MS 20

struct prefetch {
    int64_t max_bytes;   /* queued.max.messages.kbytes x 1024 */
    int64_t max_records; /* queued.min.messages */
    double avg_bytes;    /* bytes a queued record holds, a moving average */
    int high;            /* the queue came near its limit since the last wake */
    int64_t last_wake_ms;
    unsigned long wakes;
};

void prefetch_init(struct prefetch *p, int64_t max_kbytes, int64_t max_records);

/* A record whose value is len bytes left the queue (librdkafka counts
 * values only against queued.max.messages.kbytes). */
void prefetch_record(struct prefetch *p, size_t len);

/* The queue holds `queued` records at now_ms (monotonic): returns 1 when
 * the fetchers should be woken now. */
int prefetch_decide(struct prefetch *p, int64_t queued, int64_t now_ms);

/* The wake prefetch_decide asked for sent nothing (prefetch_wake_sent
 * said 0): the queue counts as still drained after a fill, so the next
 * decision, PREFETCH_WAKE_MIN_MS later at the earliest, tries again. */
void prefetch_unsent(struct prefetch *p);

/* rd_kafka_offsets_for_times(rk, list, 0) returned err: the number of
 * list's partitions whose leader was handed a ListOffsets request (the
 * wake), 0 when none was (no leader known yet, all brokers down). */
int prefetch_wake_sent(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *list);

#endif
