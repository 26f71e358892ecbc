/*
 * conf: loads and validates the libconfig file.  Each setting is one row of
 * a table (path, type, default, bounds, help); unknown keys, wrong types and
 * bad values are refused with "file:line: setting: what is wrong (expected
 * ...)".  Environment variables override the deployment-specific keys.
 * The loaded struct conf is read-only once threads run.
 */
#ifndef BRIDGE_CONF_H
#define BRIDGE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

struct endpoint;

/* Bytes of a parked delivery's record beside its event (ids, URL, the capped
 * attempt history) plus the producer's headroom (PRODUCER_HEADROOM): an
 * event may be at most message.max.bytes less this. */
#define CONF_RECORD_ROOM 32768

struct conf {
    char *path;
    struct {
        char *brokers; /* "embedded" or "host:port,..." (env WEBHOOK_BRIDGE_BROKERS) */
        bool embedded; /* brokers == "embedded" */
        char *group_id;
        char *events_topic;
        char *endpoints_topic;
        char *delay_prefix; /* kafka.topics.delay */
        char *dead_letter_topic;
        char *attempts_topic; /* "" turns the attempts log off */
        char **properties;    /* "name=value" librdkafka properties, validated */
        size_t n_properties;
        bool create_topics; /* default: true when embedded, false otherwise */
        int partitions;     /* for created topics, default 6 */
        int replication;    /* for created topics, default 3 (1 when embedded) */
    } kafka;
    struct {
        int workers;                 /* 1..64, default 2 */
        int max_in_flight;           /* 1..1000000, default 1024 */
        int endpoint_max_in_flight;  /* 1..max_in_flight, default 64 */
        int64_t slow_answer_ms;      /* slower answers mark an endpoint slow; 0 off; default 5s */
        int slow_max_in_flight;      /* requests at once to a slow endpoint, default 2 */
        int64_t connect_timeout_ms;  /* default 5s */
        int64_t timeout_ms;          /* default 10s */
        int64_t drain_timeout_ms;    /* at SIGTERM, for running attempts; default 10s */
        bool allow_private_networks; /* default false */
        char *ca_file;               /* CA certificates (PEM) for HTTPS; "" the system's */
        char **allow_networks;       /* CIDR ranges let through the guard */
        size_t n_allow_networks;
        int64_t max_event_bytes; /* events larger are invalid; default 900 KiB */
    } delivery;
    struct {
        int64_t *schedule_ms; /* intervals, the last one repeats; default [5m] */
        size_t n_schedule;
        int64_t window_ms; /* default 30m */
    } retry;
    struct endpoint **endpoints; /* from the file, in file order */
    size_t n_endpoints;
    struct {
        char *listen; /* default "127.0.0.1:8080" (env WEBHOOK_BRIDGE_ADMIN_LISTEN) */
    } admin;
    struct {
        char *level; /* default "info" (env WEBHOOK_BRIDGE_LOG_LEVEL) */
    } log;
};

/* Loads and validates path.  On success returns 0 and a new conf in *confp
 * (free with conf_destroy).  On failure returns -1 with every problem found
 * in errstr, one per line, each as "file:line: setting: message". */
int conf_load(struct conf **confp, const char *path, char *errstr,
              size_t errstr_size) WB_MUST_CHECK;

void conf_destroy(struct conf *conf);

/* Prints a short human summary (brokers, topics, workers, retry schedule,
 * endpoints) for check-config. */
void conf_print_summary(const struct conf *conf, FILE *fp);

/* Writes the configuration reference (every setting with type, default and
 * help) as Markdown: generated from the same table that validates. */
void conf_print_reference(FILE *fp);

#endif
