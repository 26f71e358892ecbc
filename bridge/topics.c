/*
 * topics: the plan (see topics.h).  Retention: 30 days for dead letters
 * (time to inspect and replay), 7 days for the attempts log, and for the
 * delay topics at least twice the retry window and never under 7 days, so
 * that a parked delivery outlives its window and an outage of the bridge.
 */
#include "topics.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "schedule.h"
#include "util.h"

#define DAY_MS 86400000LL

static void add(struct topic_spec *out, size_t *n, size_t max, const char *name, int partitions,
                int replication, const char *policy, int64_t retention_ms, const char *role)
{
    if (*n >= max || name[0] == '\0') {
        return;
    }
    struct topic_spec *t = &out[(*n)++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->partitions = partitions;
    t->replication = replication;
    /* acks=all then means two brokers have the record, and one broker may
     * be down without stopping writes; with two replicas, 2 would stop them
     * whenever one is down.  With -1 the broker's own min.insync.replicas
     * applies (README, Against your Kafka). */
    t->min_insync = replication >= 3 ? "2" : NULL;
    t->cleanup_policy = policy;
    if (retention_ms > 0) {
        snprintf(t->retention_ms, sizeof(t->retention_ms), "%lld", (long long)retention_ms);
    }
    t->role = role;
}

size_t topics_plan(const struct conf *conf, int partitions, int replication, struct topic_spec *out,
                   size_t max)
{
    size_t n = 0;
    int64_t delay_retention = 2 * conf->retry.window_ms;
    if (delay_retention < 7 * DAY_MS) {
        delay_retention = 7 * DAY_MS;
    }
    add(out, &n, max, conf->kafka.events_topic, partitions, replication, "delete", 0, "events");
    /* Every replica reads the whole endpoints topic: one partition would
     * do, a few keep its records spread; compaction keeps the last per id. */
    add(out, &n, max, conf->kafka.endpoints_topic, partitions, replication, "compact", 0,
        "endpoints");
    add(out, &n, max, conf->kafka.dead_letter_topic, partitions, replication, "delete", 30 * DAY_MS,
        "dead letters");
    add(out, &n, max, conf->kafka.attempts_topic, partitions, replication, "delete", 7 * DAY_MS,
        "attempts log");
    int64_t intervals[64];
    size_t ni = schedule_distinct_intervals(conf, intervals, WB_ARRAY_LEN(intervals) - 1);
    intervals[ni++] = 0; /* <prefix>-0s: due at once (replays, shutdown) */
    for (size_t i = 0; i < ni; i++) {
        char name[256];
        schedule_topic_name(conf->kafka.delay_prefix, intervals[i], name, sizeof(name));
        add(out, &n, max, name, partitions, replication, "delete", delay_retention, "delay");
    }
    return n;
}
