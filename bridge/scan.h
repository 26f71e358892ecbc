/*
 * scan: how the inspection tools (dlq, attempts) read a topic: every
 * partition assigned to a consumer that joins no group and commits nothing,
 * from the first record at or after `since` (Kafka's offsets-by-time
 * lookup) up to the end each partition had when the scan began, within a
 * time limit.  Where the cluster gives no offset for a time (librdkafka
 * 2.0.2's mock cluster answers "end" to every such lookup) the scan reads
 * the partition's newest `max_records` instead and filters on the record
 * timestamps, and says so in its report.
 *
 * Threads: the caller's; the callback runs on it.
 */
#ifndef BRIDGE_SCAN_H
#define BRIDGE_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "util.h"

struct conf;

struct scan_opts {
    const char *topic;
    int64_t since_ms;   /* records with a timestamp >= this (0: from the beginning) */
    int64_t until_ms;   /* and < this (0: no upper bound) */
    long max_records;   /* per partition, when the time lookup gives nothing */
    int64_t timeout_ms; /* for the whole scan */
};

struct scan_report {
    int partitions;
    long records_read;         /* records looked at */
    long records_in_range;     /* of which within [since, until) */
    int64_t first_ts, last_ts; /* timestamps of the records in range (0 when none) */
    int time_lookup_failed;    /* partitions read by the fallback */
    int complete;              /* every partition read to its end */
    char offsets[512];         /* "p0:12-40 p1:0-3 ..." what was read */
};

/* Called per record in [since, until); return non-zero to stop the scan. */
typedef int scan_cb(const rd_kafka_message_t *rkm, void *arg);

/* Scans o->topic on conf's cluster (bootstrap).  Returns 0 (rep filled,
 * even when the time limit cut the scan short: rep->complete says), or -1
 * with the reason in errstr (no such topic, cluster unreachable). */
int scan_topic(const struct conf *conf, const char *bootstrap, const struct scan_opts *o,
               scan_cb *cb, void *arg, struct scan_report *rep, char *errstr,
               size_t errstr_size) WB_MUST_CHECK;

/* Prints rep as one human line ("read 3 partitions of X: ..."). */
void scan_report_print(const struct scan_opts *o, const struct scan_report *rep, FILE *fp);

/* Parses a time for --since/--until: RFC 3339, or a duration before now
 * ("2h", "30m", "7d" is not a duration: use "168h").  0, or -1 with the
 * reason in errstr. */
int scan_parse_time(const char *text, int64_t *ms, char *errstr, size_t errstr_size) WB_MUST_CHECK;

#endif
