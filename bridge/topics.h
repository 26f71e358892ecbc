/*
 * topics: the topics the bridge needs and how each must be made: the
 * events, endpoints (compacted), dead-letter and attempts topics, one delay
 * topic per distinct retry interval and <prefix>-0s, with their partitions,
 * replication and configuration (cleanup.policy, retention.ms).  The
 * daemon's creation at start (kafka.c) and `webhook-bridge topics
 * create|check` (cmd_topics.c) both work from this plan.  Pure functions.
 */
#ifndef BRIDGE_TOPICS_H
#define BRIDGE_TOPICS_H

#include <stddef.h>
#include <stdint.h>

struct conf;

#define TOPICS_MAX 80

struct topic_spec {
    char name[256];
    int partitions;
    int replication;            /* -1: the broker's default */
    const char *min_insync;     /* "2" when replication > 1, else NULL (the broker's) */
    const char *cleanup_policy; /* "delete" or "compact" (static strings) */
    char retention_ms[24];      /* "" keeps the broker's default */
    const char *role;           /* "events", "endpoints", "delay", ... (for messages) */
};

/* The plan for conf with these partitions (> 0) and replication (> 0, or
 * -1 for the broker's default).  Returns how many specs were written (at
 * most max). */
size_t topics_plan(const struct conf *conf, int partitions, int replication, struct topic_spec *out,
                   size_t max);

#endif
