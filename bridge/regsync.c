/*
 * regsync: a consumer with every partition of the endpoints topic assigned
 * at the beginning (rd_kafka_assign: no group membership, no commits) and
 * enable.partition.eof for the catch-up.  Its thread owns the rd_kafka_t
 * and the assignment; `caught_up` and the counters are atomics read by
 * main and the log.
 */
#include "regsync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "endpoint.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "redact.h"
#include "registry.h"

#define METADATA_TIMEOUT_MS 2000
#define MISSING_RECHECK_MS 1000     /* a missing topic is looked for again */
#define PARTITIONS_RECHECK_MS 30000 /* partitions added to the topic are picked up */

struct regsync {
    const struct conf *conf;
    struct registry *registry;
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_int running;
    atomic_int caught_up;
    atomic_long applied;
    atomic_long invalid;
    _Atomic int64_t heartbeat_ms; /* the loop's last turn (mono ms) */

    /* Reader thread only. */
    int n_parts; /* partitions assigned; 0 while the topic is missing */
    char *eof;   /* per partition: its end was reached once */
    int n_eof;
    int missing_said; /* the missing topic was logged */
};

/* The topic's partition count: > 0, 0 when the topic does not exist, -1
 * when the cluster did not answer. */
static int partition_count(struct regsync *rs)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rs->rk, rs->conf->kafka.endpoints_topic, NULL);
    int n = -1;
    if (rkt == NULL) {
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rs->rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
        const rd_kafka_metadata_topic_t *t = &md->topics[0];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            t->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
            n = 0;
        } else if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            n = t->partition_cnt;
        }
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static void set_caught_up(struct regsync *rs, const char *how)
{
    if (atomic_exchange(&rs->caught_up, 1)) {
        return;
    }
    log_json(LVL_INFO, "registry caught up",
             json_pack("{s:s, s:s, s:i, s:I, s:I, s:I}", "topic", rs->conf->kafka.endpoints_topic,
                       "how", how, "partitions", rs->n_parts, "endpoints",
                       (json_int_t)registry_size(rs->registry), "recordsApplied",
                       (json_int_t)atomic_load(&rs->applied), "recordsInvalid",
                       (json_int_t)atomic_load(&rs->invalid)));
}

/* Assigns partitions [0, n): those already assigned resume where they are,
 * new ones start at the beginning. */
static void assign(struct regsync *rs, int n)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        rd_kafka_topic_partition_list_add(list, rs->conf->kafka.endpoints_topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rs->n_parts > 0) {
        rd_kafka_topic_partition_list_t *now = rd_kafka_topic_partition_list_new(rs->n_parts);
        for (int p = 0; p < rs->n_parts; p++) {
            rd_kafka_topic_partition_list_add(now, rs->conf->kafka.endpoints_topic, p);
        }
        if (rd_kafka_position(rs->rk, now) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int p = 0; p < rs->n_parts; p++) {
                if (now->elems[p].offset >= 0) {
                    list->elems[p].offset = now->elems[p].offset;
                }
            }
        }
        rd_kafka_topic_partition_list_destroy(now);
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rs->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_error("registry: assigning %s: %s", rs->conf->kafka.endpoints_topic,
                  rd_kafka_err2str(err));
        return;
    }
    rs->eof = xrealloc(rs->eof, (size_t)n);
    memset(rs->eof + rs->n_parts, 0, (size_t)(n - rs->n_parts));
    if (rs->n_parts > 0) {
        log_json(LVL_INFO, "registry: partitions added to the endpoints topic",
                 json_pack("{s:s, s:i, s:i}", "topic", rs->conf->kafka.endpoints_topic, "from",
                           rs->n_parts, "to", n));
    }
    rs->n_parts = n;
}

/* A key as a log field: escaped to printable ASCII and bounded
 * (redact_bytes), whatever bytes it holds. */
static json_t *key_field(const rd_kafka_message_t *rkm)
{
    char shown[REDACT_BYTES_LEN];
    if (rkm->key == NULL) {
        return json_null();
    }
    redact_bytes(rkm->key, rkm->key_len, shown, sizeof(shown));
    return json_string(shown);
}

static void skip(struct regsync *rs, const rd_kafka_message_t *rkm, const char *why)
{
    atomic_fetch_add(&rs->invalid, 1);
    metrics_inc(M_registry_records_invalid);
    log_json(LVL_WARN, "registry: endpoints record skipped",
             json_pack("{s:s, s:i, s:I, s:o, s:s}", "topic", rs->conf->kafka.endpoints_topic,
                       "partition", (int)rkm->partition, "offset", (json_int_t)rkm->offset, "key",
                       key_field(rkm), "error", why));
}

int regsync_parse_record(const void *key, size_t key_len, const void *value, size_t value_len,
                         char *id, struct endpoint **epp, char *errstr, size_t errstr_size)
{
    *epp = NULL;
    /* A key that is not exactly an id is refused before the value is looked
     * at, so neither an update nor a tombstone reaches another endpoint. */
    if (endpoint_id_from_key(key, key_len, id, errstr, errstr_size) != 0) {
        return -1;
    }
    if (value != NULL) {
        *epp = endpoint_from_json(id, value, value_len, errstr, errstr_size);
        if (*epp == NULL) {
            id[0] = '\0';
            return -1;
        }
    }
    return 0;
}

static void apply(struct regsync *rs, const rd_kafka_message_t *rkm)
{
    char err[512], id[ENDPOINT_ID_MAX + 1];
    struct endpoint *ep = NULL;

    if (regsync_parse_record(rkm->key, rkm->key_len, rkm->payload, rkm->len, id, &ep, err,
                             sizeof(err)) != 0) {
        skip(rs, rkm, err);
        return;
    }
    const char *account = ep != NULL ? ep->account_id : NULL;
    json_t *fields = json_pack("{s:s, s:s?}", "endpointId", id, "accountId", account);
    enum registry_change change = registry_apply(rs->registry, id, ep);
    ep = NULL; /* the registry's now */
    atomic_fetch_add(&rs->applied, 1);
    metrics_inc(M_registry_records_applied);
    /* Changes are news once caught up; the catch-up itself is one line. */
    enum log_level lvl = atomic_load(&rs->caught_up) ? LVL_INFO : LVL_DEBUG;
    switch (change) {
    case REGISTRY_ADDED:
        log_json(lvl, "endpoint added", fields);
        break;
    case REGISTRY_UPDATED:
        log_json(lvl, "endpoint updated", fields);
        break;
    case REGISTRY_REMOVED:
        log_json(lvl, "endpoint removed", fields);
        break;
    case REGISTRY_CONFIG_WINS:
        log_json(LVL_WARN, "endpoints record ignored: the config file defines this id", fields);
        break;
    case REGISTRY_UNKNOWN:
    default:
        json_decref(fields);
        break;
    }
}

static void *reader_main(void *arg)
{
    struct regsync *rs = arg;
    int64_t next_check = 0;

    while (atomic_load(&rs->running)) {
        int64_t now = util_mono_ms();
        atomic_store(&rs->heartbeat_ms, now);
        if (now >= next_check) {
            int n = partition_count(rs);
            if (n == 0 && rs->n_parts == 0) {
                /* Not caught up: a topic said missing may be one that
                 * exists (a broker that has not learnt of it yet, a topic
                 * being created), and every event consumed before its
                 * endpoints are read would be dropped as unrouted. */
                if (!rs->missing_said) {
                    log_json(LVL_ERROR,
                             "endpoints topic not found: no event is consumed until it is there "
                             "and read (create it with `webhook-bridge topics create`)",
                             json_pack("{s:s}", "topic", rs->conf->kafka.endpoints_topic));
                    rs->missing_said = 1;
                }
                next_check = now + MISSING_RECHECK_MS;
            } else if (n < 0) {
                next_check = now + 1000; /* not reachable yet: librdkafka logs why */
            } else {
                if (n > rs->n_parts) {
                    assign(rs, n);
                }
                next_check = now + PARTITIONS_RECHECK_MS;
            }
        }
        if (rs->n_parts == 0) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rs->rk, 100);
        if (rkm == NULL) {
            continue;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (rkm->partition >= 0 && rkm->partition < rs->n_parts && !rs->eof[rkm->partition]) {
                rs->eof[rkm->partition] = 1;
                rs->n_eof++;
                if (rs->n_eof == rs->n_parts) {
                    set_caught_up(rs, "read to the end");
                }
            }
        } else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_json(LVL_WARN, "registry: consumer error",
                     json_pack("{s:s}", "error", rd_kafka_message_errstr(rkm)));
        } else {
            apply(rs, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
    return NULL;
}

int regsync_start(struct regsync **rsp, const struct conf *conf, const char *bootstrap,
                  struct registry *registry, char *errstr, size_t errstr_size)
{
    struct regsync *rs = NULL;
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-registry", errstr, errstr_size);
    char group[300];
    int ret = -1;

    *rsp = NULL;
    if (kconf == NULL) {
        goto out;
    }
    /* librdkafka wants a group.id for assign(); no member ever joins it and
     * nothing is committed to it. */
    snprintf(group, sizeof(group), "%s-registry", conf->kafka.group_id);
    const char *const props[] = {"group.id", group, "enable.auto.commit", "false",
                                 "enable.auto.offset.store", "false", "enable.partition.eof",
                                 "true", "auto.offset.reset", "earliest",
                                 /* Updates show within a tenth of a second. */
                                 "fetch.wait.max.ms", "100", "queued.max.messages.kbytes", "4096",
                                 /* Reading the topic must not create it. */
                                 "allow.auto.create.topics", "false", NULL};
    for (const char *const *kv = props; *kv != NULL; kv += 2) {
        if (kafka_conf_set(kconf, kv[0], kv[1], errstr, errstr_size) != 0) {
            goto out;
        }
    }
    rs = xcalloc(1, sizeof(*rs));
    rs->conf = conf;
    rs->registry = registry;
    rs->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (rs->rk == NULL) {
        goto out;
    }
    kconf = NULL;
    rd_kafka_poll_set_consumer(rs->rk);
    atomic_init(&rs->running, 1);
    atomic_init(&rs->heartbeat_ms, util_mono_ms());
    if (pthread_create(&rs->thread, NULL, reader_main, rs) != 0) {
        util_errf(errstr, errstr_size, "registry: cannot start its thread");
        goto out;
    }
    *rsp = rs;
    rs = NULL;
    ret = 0;
out:
    if (kconf != NULL) {
        rd_kafka_conf_destroy(kconf);
    }
    if (rs != NULL) {
        if (rs->rk != NULL) {
            rd_kafka_destroy(rs->rk);
        }
        free(rs);
    }
    return ret;
}

int regsync_caught_up(const struct regsync *rs)
{
    return atomic_load(&((struct regsync *)rs)->caught_up);
}

long regsync_applied(const struct regsync *rs)
{
    return atomic_load(&((struct regsync *)rs)->applied);
}

int64_t regsync_heartbeat(const struct regsync *rs)
{
    return atomic_load(&((struct regsync *)rs)->heartbeat_ms);
}

long regsync_invalid(const struct regsync *rs)
{
    return atomic_load(&((struct regsync *)rs)->invalid);
}

void regsync_stop(struct regsync *rs)
{
    if (rs == NULL) {
        return;
    }
    atomic_store(&rs->running, 0);
    pthread_join(rs->thread, NULL);
    rd_kafka_consumer_close(rs->rk);
    rd_kafka_destroy(rs->rk);
    free(rs->eof);
    free(rs);
}
