/*
 * consumer: poll loop, rebalance handling, offset storing and pausing for
 * one consumer-group member.  Everything but `running` and `n_assigned`
 * belongs to the consumer's thread (and to main after the thread is joined).
 */
#include "consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "offsets.h"
#include "pipeline.h"

#define BP_PAUSE_AFTER_MS 1000 /* saturated this long: pause the partitions */
#define BP_SLEEP_MS 1          /* a saturated loop's turn */

struct consumer {
    char *name;
    rd_kafka_t *rk;
    struct consumer_handler h;
    struct pipeline *pl;
    struct offsets *offsets;
    pthread_t thread;
    atomic_int running;
    atomic_int n_assigned;
    atomic_int joined;            /* a rebalance has completed (even with nothing) */
    atomic_int refresh;           /* consumer_refresh_subscription asked for a refresh */
    _Atomic int64_t heartbeat_ms; /* the loop's last turn (mono ms) */

    /* From librdkafka's statistics (its thread), read by the admin server. */
    pthread_mutex_t stats_lock;
    json_t *lags;                              /* [{"topic","partition","lag"}], stats_lock */
    atomic_int kafka_up;                       /* some broker connection is UP */
    rd_kafka_topic_partition_list_t *assigned; /* current assignment */
    rd_kafka_topic_partition_list_t *held;     /* partitions paused by the handler */
    int bp_paused;                             /* paused for backpressure */
    int64_t bp_since;                          /* saturated since (mono ms), or 0 */
};

static void store_offsets(struct consumer *c)
{
    rd_kafka_topic_partition_list_t *list = offsets_collect(c->offsets);
    if (list == NULL) {
        return;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_debug("%s: offsets_store: %s", c->name, rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static int is_held(const struct consumer *c, const char *topic, int32_t partition)
{
    return rd_kafka_topic_partition_list_find(c->held, topic, partition) != NULL;
}

static void set_paused(struct consumer *c, const char *topic, int32_t partition, int pause)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition);
    if (pause) {
        rd_kafka_pause_partitions(c->rk, one);
    } else {
        rd_kafka_resume_partitions(c->rk, one);
    }
    rd_kafka_topic_partition_list_destroy(one);
}

/* Backpressure.  While the pipeline is saturated the loop stops taking
 * records but leaves librdkafka's prefetched ones where they are: pausing
 * a partition drops its prefetched records and fetches them again on
 * resume, which under steady load (the pipeline filling up every few
 * hundred milliseconds) costs more than the work itself.  Only after
 * BP_PAUSE_AFTER_MS of saturation (a slow endpoint, say) does it pause the
 * partitions and poll again, so that rebalances and errors are served.
 * Returns 1 when the loop must not take a record this turn. */
static int backpressure(struct consumer *c)
{
    int64_t now = util_mono_ms();
    if (pipeline_saturated(c->pl)) {
        if (c->bp_since == 0) {
            c->bp_since = now;
        }
        if (!c->bp_paused && now - c->bp_since >= BP_PAUSE_AFTER_MS) {
            rd_kafka_pause_partitions(c->rk, c->assigned);
            c->bp_paused = 1;
            log_debug("%s: pipeline full for %d ms, partitions paused", c->name, BP_PAUSE_AFTER_MS);
        }
        return !c->bp_paused;
    }
    if (c->bp_paused) {
        if (!pipeline_has_room(c->pl)) {
            return 0; /* still paused: polling serves rebalances only */
        }
        c->bp_paused = 0;
        for (int i = 0; i < c->assigned->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &c->assigned->elems[i];
            if (!is_held(c, tp->topic, tp->partition)) {
                set_paused(c, tp->topic, tp->partition, 0);
            }
        }
        log_debug("%s: consumption resumed", c->name);
    }
    c->bp_since = 0;
    return 0;
}

void consumer_hold(struct consumer *c, const char *topic, int32_t partition)
{
    if (!is_held(c, topic, partition)) {
        rd_kafka_topic_partition_list_add(c->held, topic, partition);
    }
    set_paused(c, topic, partition, 1);
}

void consumer_unhold(struct consumer *c, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_del(c->held, topic, partition);
    if (!c->bp_paused) {
        set_paused(c, topic, partition, 0);
    }
}

static void revoke(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    if (c->h.on_revoke != NULL) {
        c->h.on_revoke(c, parts, c->h.arg);
    }
    /* What is resolved is stored and committed before the partitions go, so
     * the next owner does not deliver it again. */
    store_offsets(c);
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        log_warn("%s: commit on revoke: %s", c->name, rd_kafka_err2str(err));
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(c->offsets, parts->elems[i].topic, parts->elems[i].partition);
        rd_kafka_topic_partition_list_del(c->held, parts->elems[i].topic,
                                          parts->elems[i].partition);
        rd_kafka_topic_partition_list_del(c->assigned, parts->elems[i].topic,
                                          parts->elems[i].partition);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct consumer *c = opaque;
    /* NULL once the group has terminated in consumer_close (rdkafka.h). */
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    int cooperative = protocol != NULL && strcmp(protocol, "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_json(LVL_INFO, "partitions assigned",
                 json_pack("{s:s, s:i}", "consumer", c->name, "count", parts->cnt));
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e != NULL) {
                log_error("%s: assign: %s", c->name, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, parts);
        }
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_list_add(c->assigned, parts->elems[i].topic,
                                              parts->elems[i].partition);
        }
        if (c->bp_paused) {
            rd_kafka_pause_partitions(rk, parts);
        } else {
            /* librdkafka keeps the application's pause flag on a partition
             * across revoke and re-assign (librdkafka #1849): a partition
             * this member held paused (a delay topic's head not yet due)
             * and gets back would never be fetched again. */
            rd_kafka_resume_partitions(rk, parts);
        }
    } else {
        log_json(LVL_INFO, "partitions revoked",
                 json_pack("{s:s, s:i}", "consumer", c->name, "count", parts->cnt));
        revoke(c, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e != NULL) {
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
    atomic_store(&c->n_assigned, c->assigned->cnt);
    atomic_store(&c->joined, 1);
}

/* librdkafka's statistics (JSON, every statistics.interval.ms, on its own
 * thread): the lag of each assigned partition and whether a broker is up. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    struct consumer *c = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    if (root == NULL) {
        return 0;
    }
    int up = 0;
    const char *name;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), name, b)
    {
        if (json_is_string(json_object_get(b, "state")) &&
            strcmp(json_string_value(json_object_get(b, "state")), "UP") == 0) {
            up = 1;
        }
    }
    atomic_store(&c->kafka_up, up);
    json_t *lags = json_array();
    const char *topic;
    json_t *t;
    json_object_foreach(json_object_get(root, "topics"), topic, t)
    {
        const char *pid;
        json_t *p;
        json_object_foreach(json_object_get(t, "partitions"), pid, p)
        {
            json_int_t part = json_integer_value(json_object_get(p, "partition"));
            json_int_t lag = json_integer_value(json_object_get(p, "consumer_lag"));
            /* Partitions not assigned here report -1; "-1" is the UA one. */
            if (part < 0 || lag < 0 || !json_is_true(json_object_get(p, "desired"))) {
                continue;
            }
            json_array_append_new(
                lags, json_pack("{s:s, s:I, s:I}", "topic", topic, "partition", part, "lag", lag));
        }
    }
    pthread_mutex_lock(&c->stats_lock);
    json_decref(c->lags);
    c->lags = lags;
    pthread_mutex_unlock(&c->stats_lock);
    json_decref(root);
    return 0; /* librdkafka frees json */
}

/* A full metadata request: librdkafka re-matches the subscription against
 * its answer (rdkafka_metadata.c, cgrp_update) and rejoins the group when a
 * new topic matches. */
static void refresh_subscription(struct consumer *c)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 1, NULL, &md, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("%s: metadata refresh: %s (the periodic refresh will catch up)", c->name,
                 rd_kafka_err2str(err));
        return;
    }
    rd_kafka_metadata_destroy(md);
    log_debug("%s: subscription refreshed", c->name);
}

void consumer_refresh_subscription(struct consumer *c)
{
    if (c != NULL) {
        atomic_store(&c->refresh, 1);
    }
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    int64_t wait_ms = 100;
    while (atomic_load(&c->running) && !atomic_load(&kafka_fatal)) {
        atomic_store(&c->heartbeat_ms, util_mono_ms());
        if (atomic_exchange(&c->refresh, 0)) {
            refresh_subscription(c);
        }
        if (backpressure(c)) {
            struct timespec ts = {0, BP_SLEEP_MS * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (c->h.on_tick != NULL) {
                c->h.on_tick(c, c->h.arg);
            }
            store_offsets(c);
            continue;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, (int)wait_ms);
        if (rkm != NULL) {
            if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                c->h.on_message(c, rkm, c->h.arg);
            } else {
                if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    log_json(LVL_WARN, "consumer error",
                             json_pack("{s:s, s:s}", "consumer", c->name, "error",
                                       rd_kafka_message_errstr(rkm)));
                }
                rd_kafka_message_destroy(rkm);
            }
        }
        wait_ms = 100;
        if (c->h.on_tick != NULL) {
            int64_t next = c->h.on_tick(c, c->h.arg);
            if (next >= 0 && next < wait_ms) {
                wait_ms = next;
            }
        }
        if (c->bp_paused) {
            wait_ms = 10; /* notice room promptly */
        }
        store_offsets(c);
    }
    return NULL;
}

int consumer_start(struct consumer **cp, const struct conf *conf, const char *bootstrap,
                   const struct consumer_opts *opts, const struct consumer_handler *h,
                   struct pipeline *pl, char *errstr, size_t errstr_size)
{
    char client_id[128];
    snprintf(client_id, sizeof(client_id), "webhook-bridge-%s", opts->name);
    rd_kafka_conf_t *kconf = kafka_conf_new(conf, bootstrap, client_id, errstr, errstr_size);
    if (kconf == NULL) {
        return -1;
    }
    const char *base[] = {"group.id",
                          opts->group_id,
                          "enable.auto.offset.store",
                          "false",
                          "enable.auto.commit",
                          "true",
                          "auto.offset.reset",
                          "earliest",
                          NULL};
    for (const char *const *kv = base; *kv != NULL; kv += 2) {
        if (kafka_conf_set(kconf, kv[0], kv[1], errstr, errstr_size) != 0) {
            goto fail;
        }
    }
    /* Commit stored offsets every second: what a crash redelivers is what was
     * in flight plus at most one second of resolved records. */
    if (kafka_conf_set(kconf, "auto.commit.interval.ms", "1000", errstr, errstr_size) != 0) {
        goto fail;
    }
    /* Prefetch at most 16 MiB (librdkafka's default is 64 MiB per consumer):
     * the pipeline holds max_in_flight deliveries anyway, and 16 MiB is a
     * fraction of a second of events at full speed (8 MiB starved the
     * fetcher in make bench: 17,000 against 35,000 deliveries/s).  A user
     * property wins. */
    if (kafka_conf_set(kconf, "queued.max.messages.kbytes", "16384", errstr, errstr_size) != 0) {
        goto fail;
    }
    /* A fetch response may overshoot that by up to fetch.max.bytes (50 MiB
     * by default, in practice 1 MiB per partition fetched): cap it. */
    if (kafka_conf_set(kconf, "fetch.max.bytes", "8388608", errstr, errstr_size) != 0) {
        goto fail;
    }
    /* Statistics every 2 s: consumer lag for /metrics, broker state for
     * /readyz. */
    if (kafka_conf_set(kconf, "statistics.interval.ms", "2000", errstr, errstr_size) != 0) {
        goto fail;
    }
    for (const char *const *kv = opts->extra; kv != NULL && *kv != NULL; kv += 2) {
        if (kafka_conf_set(kconf, kv[0], kv[1], errstr, errstr_size) != 0) {
            goto fail;
        }
    }
    /* The user's properties win over our defaults (conf.c refuses those
     * the bridge must own: group.id, enable.auto.offset.store, ...). */
    for (size_t i = 0; i < conf->kafka.n_properties; i++) {
        const char *prop = conf->kafka.properties[i];
        const char *eq = strchr(prop, '=');
        char *name = xstrndup(prop, (size_t)(eq - prop));
        int rc = kafka_conf_set(kconf, name, eq + 1, errstr, errstr_size);
        free(name);
        if (rc != 0) {
            goto fail;
        }
    }
    struct consumer *c = xcalloc(1, sizeof(*c));
    c->name = xstrdup(opts->name);
    c->h = *h;
    c->pl = pl;
    c->offsets = offsets_new();
    c->assigned = rd_kafka_topic_partition_list_new(8);
    c->held = rd_kafka_topic_partition_list_new(8);
    rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
    rd_kafka_conf_set_stats_cb(kconf, stats_cb);
    pthread_mutex_init(&c->stats_lock, NULL);
    atomic_init(&c->heartbeat_ms, util_mono_ms());
    rd_kafka_conf_set_opaque(kconf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, (size_t)errstr_size);
    if (c->rk == NULL) {
        pthread_mutex_destroy(&c->stats_lock);
        offsets_destroy(c->offsets);
        rd_kafka_topic_partition_list_destroy(c->assigned);
        rd_kafka_topic_partition_list_destroy(c->held);
        free(c->name);
        free(c);
        goto fail;
    }
    kconf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, opts->subscription, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "%s: subscribe to %s: %s", opts->name, opts->subscription,
                  rd_kafka_err2str(err));
        *cp = c;
        consumer_close(c);
        *cp = NULL;
        return -1;
    }
    atomic_init(&c->running, 1);
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        util_errf(errstr, errstr_size, "%s: cannot start thread", opts->name);
        atomic_store(&c->running, 0);
        consumer_close(c);
        return -1;
    }
    *cp = c;
    return 0;
fail:
    if (kconf != NULL) {
        rd_kafka_conf_destroy(kconf);
    }
    return -1;
}

void consumer_stop(struct consumer *c)
{
    if (c != NULL && atomic_exchange(&c->running, 0)) {
        pthread_join(c->thread, NULL);
    }
}

void consumer_close(struct consumer *c)
{
    if (c == NULL) {
        return;
    }
    consumer_stop(c);
    store_offsets(c);
    /* Leaves the group: the revoke callback commits what was stored. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("%s: close: %s", c->name, rd_kafka_err2str(err));
    }
    rd_kafka_destroy(c->rk);
    json_decref(c->lags);
    pthread_mutex_destroy(&c->stats_lock);
    offsets_destroy(c->offsets);
    rd_kafka_topic_partition_list_destroy(c->assigned);
    rd_kafka_topic_partition_list_destroy(c->held);
    free(c->name);
    free(c);
}

struct offsets *consumer_offsets(struct consumer *c)
{
    return c->offsets;
}

int consumer_joined(const struct consumer *c)
{
    return atomic_load(&((struct consumer *)c)->joined);
}

int64_t consumer_heartbeat(const struct consumer *c)
{
    return atomic_load(&((struct consumer *)c)->heartbeat_ms);
}

int consumer_kafka_up(const struct consumer *c)
{
    return atomic_load(&((struct consumer *)c)->kafka_up);
}

json_t *consumer_lags(const struct consumer *c)
{
    struct consumer *m = (struct consumer *)c;
    pthread_mutex_lock(&m->stats_lock);
    json_t *copy = m->lags != NULL ? json_deep_copy(m->lags) : json_array();
    pthread_mutex_unlock(&m->stats_lock);
    return copy;
}

int consumer_assigned(const struct consumer *c)
{
    return atomic_load(&((struct consumer *)c)->n_assigned) > 0;
}
