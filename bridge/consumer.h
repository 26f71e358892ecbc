/*
 * consumer: a consumer-group member on its own thread, shared by the events
 * consumer (router) and the delay scheduler (retry).  It owns the
 * rd_kafka_t, the offsets tracker and the pause state: a partition is paused
 * while the pipeline is saturated (backpressure), while its handler holds
 * it (a delay record not yet due) or while its tracker is at its bound.
 * Offsets are stored with the contiguous-prefix rule and committed by
 * librdkafka's auto-commit; the maps of records resolved behind the oldest
 * unresolved one go every second to the "<group>-offset-maps" group, and
 * are read back on assignment to skip those records.  A revoke waits (at
 * most delivery.drain_timeout) for the revoked partitions' records to
 * resolve, then commits offsets and maps synchronously; close revokes.
 *
 * Threads: consumer_start/stop/close on main; the handler's callbacks and
 * consumer_hold/unhold/offsets on the consumer's thread only.
 */
#ifndef BRIDGE_CONSUMER_H
#define BRIDGE_CONSUMER_H

#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "util.h"

struct conf;
struct consumer;
struct offsets;
struct pipeline;

struct consumer_handler {
    /* A record (not an error event).  The handler owns rkm. */
    void (*on_message)(struct consumer *c, rd_kafka_message_t *rkm, void *arg);
    /* Each loop turn; returns ms until it next needs a turn (or -1). */
    int64_t (*on_tick)(struct consumer *c, void *arg);
    /* Partitions about to be revoked, before their offsets are committed. */
    void (*on_revoke)(struct consumer *c, const rd_kafka_topic_partition_list_t *parts, void *arg);
    void *arg;
};

struct consumer_opts {
    const char *name; /* "events", "delay": for logs and client.id */
    const char *group_id;
    const char *subscription; /* a topic, or a regex starting with '^' */
    const char *const *extra; /* more "name", "value" librdkafka defaults; NULL-terminated */
};

int consumer_start(struct consumer **cp, const struct conf *conf, const char *bootstrap,
                   const struct consumer_opts *opts, const struct consumer_handler *h,
                   struct pipeline *pl, char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Stops consuming and joins the thread; the handle stays open. */
void consumer_stop(struct consumer *c);

/* Stores what is resolved, leaves the group (committing) and frees
 * everything.  Call after the pipeline has drained.  Thread: main. */
void consumer_close(struct consumer *c);

struct offsets *consumer_offsets(struct consumer *c);

/* Pauses / resumes one partition for the handler (consumer thread). */
void consumer_hold(struct consumer *c, const char *topic, int32_t partition);
void consumer_unhold(struct consumer *c, const char *topic, int32_t partition);

/* 1 once the group has assigned this member at least one partition. */
int consumer_assigned(const struct consumer *c);

/* Partitions assigned, and paused for each reason, as the loop last saw
 * them (a partition may be paused for several): the pauses up to a second
 * old. */
struct consumer_pauses {
    int assigned;
    int held;         /* by the handler: a delay topic's head not yet due */
    int full;         /* the offsets tracker at its bound */
    int backpressure; /* the in-flight budget full (every assigned partition) */
};

/* The pause state; any thread. */
void consumer_paused(const struct consumer *c, struct consumer_pauses *out);

/* Asks the consumer's thread to fetch the cluster's whole metadata at its
 * next turn, which makes librdkafka match a regex subscription against the
 * topics as they are now (a new delay topic) instead of at the next
 * topic.metadata.refresh.interval.ms.  Any thread; NULL is fine. */
void consumer_refresh_subscription(struct consumer *c);

/* 1 once a rebalance has completed for this member, even one that gave it
 * no partition (more replicas than partitions: idle, legitimately).
 * Any thread. */
int consumer_joined(const struct consumer *c);

/* util_mono_ms() of the poll loop's last turn.  Any thread. */
int64_t consumer_heartbeat(const struct consumer *c);

/* From librdkafka's statistics (every statistics.interval.ms): 1 when a
 * broker connection is up, and a new array of {"topic", "partition", "lag"}
 * for the partitions assigned here (the caller decrefs).  Any thread. */
int consumer_kafka_up(const struct consumer *c);
json_t *consumer_lags(const struct consumer *c);

#endif
