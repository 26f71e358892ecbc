/*
 * scan: one throw-away consumer per scan (see scan.h).  Per partition:
 * watermarks at the start; the start offset from the offsets-by-time
 * lookup, else the newest max_records; records are read until each
 * partition's start-time end is reached (enable.partition.eof tells when a
 * partition has nothing more).
 */
#include "scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "duration.h"
#include "kafka.h"

#define REQUEST_TIMEOUT_MS 5000

struct part {
    int64_t low, high; /* watermarks when the scan began */
    int64_t start;     /* first offset read */
    int64_t next;      /* next offset expected */
    int done;
    int fallback;
};

int scan_parse_time(const char *text, int64_t *ms, char *errstr, size_t errstr_size)
{
    int64_t d;
    char why[128];
    if (util_parse_time(text, ms) == 0) {
        return 0;
    }
    if (duration_parse(text, &d, why, sizeof(why)) == 0) {
        *ms = util_now_ms() - d;
        return 0;
    }
    util_errf(errstr, errstr_size,
              "\"%s\" is not a time (expected RFC 3339 such as 2026-11-22T10:00:00Z, or a "
              "duration before now such as 2h or 30m)",
              text);
    return -1;
}

static rd_kafka_t *consumer_new(const struct conf *conf, const char *bootstrap, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-tools", errstr, errstr_size);
    char group[300];
    if (kconf == NULL) {
        return NULL;
    }
    /* assign() wants a group.id; no member joins it and nothing is committed. */
    snprintf(group, sizeof(group), "%s-tools", conf->kafka.group_id);
    const char *const props[] = {"group.id", group, "enable.auto.commit", "false",
                                 "enable.auto.offset.store", "false", "enable.partition.eof",
                                 "true", "auto.offset.reset", "earliest", "fetch.wait.max.ms", "50",
                                 /* A tool reading a topic must not create it. */
                                 "allow.auto.create.topics", "false", NULL};
    for (const char *const *kv = props; *kv != NULL; kv += 2) {
        if (kafka_conf_set(kconf, kv[0], kv[1], errstr, errstr_size) != 0) {
            rd_kafka_conf_destroy(kconf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The topic's partition count, or -1 with errstr. */
static int partition_count(rd_kafka_t *rk, const char *topic, const char *bootstrap, char *errstr,
                           size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, REQUEST_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "cannot reach the Kafka cluster at %s: %s", bootstrap,
                  rd_kafka_err2str(err));
    } else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
               md->topics[0].partition_cnt == 0) {
        util_errf(errstr, errstr_size, "no topic %s on %s%s%s", topic, bootstrap,
                  md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ? ": " : "",
                  md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR
                      ? rd_kafka_err2str(md->topics[0].err)
                      : "");
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Start offsets: by time where the cluster answers, else the fallback. */
static void start_offsets(rd_kafka_t *rk, const struct scan_opts *o, struct part *parts, int n,
                          struct scan_report *rep)
{
    int lookup = o->since_ms > 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        rd_kafka_topic_partition_list_add(list, o->topic, p)->offset = o->since_ms;
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (lookup) {
        err = rd_kafka_offsets_for_times(rk, list, REQUEST_TIMEOUT_MS);
    }
    for (int p = 0; p < n; p++) {
        struct part *pt = &parts[p];
        pt->start = pt->low;
        if (pt->high <= pt->low) {
            pt->done = 1;
            continue;
        }
        if (!lookup) {
            continue;
        }
        int64_t off = err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[p].err == 0
                          ? list->elems[p].offset
                          : -1;
        if (off >= pt->low && off <= pt->high) {
            pt->start = off;
        } else {
            /* No answer (or "past the end" while records exist): read the
             * newest max_records and filter on timestamps. */
            pt->fallback = 1;
            rep->time_lookup_failed++;
            pt->start = pt->high - o->max_records > pt->low ? pt->high - o->max_records : pt->low;
        }
        if (pt->start >= pt->high) {
            pt->done = 1;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

int scan_topic(const struct conf *conf, const char *bootstrap, const struct scan_opts *o,
               scan_cb *cb, void *arg, struct scan_report *rep, char *errstr, size_t errstr_size)
{
    struct part *parts = NULL;
    int ret = -1;
    int64_t deadline = util_mono_ms() + o->timeout_ms;

    memset(rep, 0, sizeof(*rep));
    rd_kafka_t *rk = consumer_new(conf, bootstrap, errstr, errstr_size);
    if (rk == NULL) {
        return -1;
    }
    int n = partition_count(rk, o->topic, bootstrap, errstr, errstr_size);
    if (n < 0) {
        goto out;
    }
    rep->partitions = n;
    parts = xcalloc((size_t)n, sizeof(*parts));
    for (int p = 0; p < n; p++) {
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, o->topic, p, &parts[p].low, &parts[p].high, REQUEST_TIMEOUT_MS);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            util_errf(errstr, errstr_size, "%s [%d]: cannot read its offsets: %s", o->topic, p,
                      rd_kafka_err2str(err));
            goto out;
        }
    }
    start_offsets(rk, o, parts, n, rep);

    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(n);
    int left = 0;
    for (int p = 0; p < n; p++) {
        parts[p].next = parts[p].start;
        if (!parts[p].done) {
            rd_kafka_topic_partition_list_add(assign, o->topic, p)->offset = parts[p].start;
            left++;
        }
    }
    if (left > 0) {
        rd_kafka_assign(rk, assign);
    }
    rd_kafka_topic_partition_list_destroy(assign);

    int stop = 0;
    while (left > 0 && !stop && util_mono_ms() < deadline) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (rkm == NULL) {
            continue;
        }
        int p = rkm->partition;
        if (p < 0 || p >= n || parts[p].done) {
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rep->records_read++;
            parts[p].next = rkm->offset + 1;
            rd_kafka_timestamp_type_t tstype;
            int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
            if ((o->since_ms == 0 || ts >= o->since_ms) && (o->until_ms == 0 || ts < o->until_ms)) {
                rep->records_in_range++;
                if (rep->first_ts == 0 || ts < rep->first_ts) {
                    rep->first_ts = ts;
                }
                if (ts > rep->last_ts) {
                    rep->last_ts = ts;
                }
                stop = cb(rkm, arg);
            }
        } else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            util_errf(errstr, errstr_size, "%s [%d]: %s", o->topic, p,
                      rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            goto out;
        }
        if (parts[p].next >= parts[p].high || rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            parts[p].done = 1;
            left--;
        }
        rd_kafka_message_destroy(rkm);
    }
    rep->complete = left == 0 && !stop;
    size_t len = 0;
    for (int p = 0; p < n && len < sizeof(rep->offsets); p++) {
        len += (size_t)snprintf(rep->offsets + len, sizeof(rep->offsets) - len, "%s%d:%lld-%lld",
                                p > 0 ? " " : "", p, (long long)parts[p].start,
                                (long long)parts[p].next);
    }
    ret = 0;
out:
    free(parts);
    rd_kafka_destroy(rk);
    return ret;
}

void scan_report_print(const struct scan_opts *o, const struct scan_report *rep, FILE *fp)
{
    char first[UTIL_TIME_LEN] = "-", last[UTIL_TIME_LEN] = "-";
    if (rep->first_ts > 0) {
        util_format_time(rep->first_ts, first, sizeof(first));
        util_format_time(rep->last_ts, last, sizeof(last));
    }
    fprintf(fp, "read %s: %d partition(s), offsets %s; %ld record(s), %ld in range (%s to %s)%s\n",
            o->topic, rep->partitions, rep->offsets, rep->records_read, rep->records_in_range,
            first, last, rep->complete ? "" : "; STOPPED before the end (time limit or enough)");
    if (rep->time_lookup_failed > 0) {
        fprintf(fp,
                "note: the cluster gave no offset for the start time on %d partition(s): read "
                "their newest %ld records and filtered on timestamps\n",
                rep->time_lookup_failed, o->max_records);
    }
}
