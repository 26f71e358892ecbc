/*
 * consumer: poll loop, rebalance handling, offset committing and pausing
 * for one consumer-group member.  Everything but `running` and `n_assigned`
 * belongs to the consumer's thread (and to main after the thread is joined).
 *
 * Offsets of resolved records are stored and librdkafka's auto-commit
 * commits them every second.  The map of the later records already resolved
 * (offsets.c) goes, as commit metadata, to a second group,
 * "<group.id>-offset-maps", which no member ever joins (maps_rk: a handle
 * that only commits and reads offsets, with generation -1 as a simple
 * consumer does), because:
 *  - librdkafka 2.0.2 cannot carry metadata in its own commits
 *    (rd_kafka_offsets_store keeps the offset only: rdkafka_offset.c,
 *    rd_kafka_offset_store0; auto-commit sends what was stored);
 *  - an application commit on the member's handle sent while the group
 *    rebalances waits behind the JoinGroup on the coordinator's connection
 *    and fails with ILLEGAL_GENERATION, upon which librdkafka declares the
 *    assignment lost (rdkafka_cgrp.c, rd_kafka_cgrp_op_handle_OffsetCommit)
 *    and every partition is revoked and replayed.  Its auto-commit timer
 *    skips rebalances (join state not steady), which the application cannot
 *    see.
 * Every COMMIT_INTERVAL_MS the loop commits the maps that changed (async);
 * a revoke waits for the revoked partitions' records to resolve (at most
 * delivery.drain_timeout), then stores and commits offsets and maps
 * synchronously.  On assignment the committed offsets and the maps are read
 * back (rd_kafka_committed on both handles): fetching starts at the later
 * of the committed offset and the map's, and the records the map lists are
 * skipped (tracked as resolved, never handed to the handler).
 * Bounds: a graceful revoke delivers nothing twice when what is in flight
 * resolves within delivery.drain_timeout; a kill -9 redelivers what was in
 * flight, plus at most COMMIT_INTERVAL_MS of resolved records, plus what a
 * map cut at MAP_BUDGET bytes leaves out.
 *
 * A partition is paused for any of three reasons, and resumed only when
 * none holds: backpressure (bp_paused, every partition), a handler's hold
 * (held), or its tracker reaching its bound (full: OFFSETS_LIMIT_FACTOR x
 * delivery.max_in_flight records tracked and not yet committed).
 */
#include "consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "pipeline.h"
#include "prefetch.h"

#define BP_PAUSE_AFTER_MS 1000  /* saturated this long: pause the partitions */
#define BP_SLEEP_MS 1           /* a saturated loop's turn */
#define COMMIT_INTERVAL_MS 1000 /* maps; auto.commit.interval.ms for offsets */
/* Records tracked and not yet committed per partition, as a multiple of
 * delivery.max_in_flight, at which the partition is paused: resolved
 * records behind a slow head pile up to that and no further. */
#define OFFSETS_LIMIT_FACTOR 4
/* A commit's metadata: below the broker's offset.metadata.max.bytes (4096
 * by default).  Halved whenever a broker refuses a map as too large. */
#define MAP_BUDGET 4000
#define MAP_BUDGET_MIN 256         /* halving on refusals stops here */
#define COMMITTED_TIMEOUT_MS 10000 /* reading committed offsets, committing maps */
#define REVOKE_POLL_MS 10
#define REVOKE_COMMIT_RETRY_MS 5000
#define LEAVE_QUIET_MS 500      /* leave_group: no rebalance callback for this long */
#define LEAVE_EXTRA_MS 5000     /* leave_group: beyond a revoke's own wait */
#define PREFETCH_CHECK_EVERY 32 /* records between looks at librdkafka's queue */
/* wake_fetchers does not wait for the answers: with a timeout of 0,
 * rd_kafka_offsets_for_times sends the requests (when every partition's
 * leader is known: prefetch_wake_sent) and returns (rdkafka.c:
 * a late answer meets a destroyed reply queue, and its callback returns on
 * __DESTROY).  The request is what wakes the broker thread; its answer is
 * of no use. */
#define FETCH_WAKE_TIMEOUT_MS 0

struct consumer {
    char *name;
    rd_kafka_t *rk;
    rd_kafka_t *maps_rk; /* commits and reads the offset maps' group only */
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
    rd_kafka_topic_partition_list_t *full;     /* paused: tracker at its bound */
    int bp_paused;                             /* paused for backpressure */
    size_t map_budget;                         /* bytes of metadata per commit */
    int64_t next_commit_ms;                    /* mono ms of the next periodic commit */
    int64_t revoke_wait_ms;                    /* how long a revoke waits */
    int rebalances;                            /* rebalance callbacks served so far */
    int64_t bp_since;                          /* saturated since (mono ms), or 0 */
    /* The pause state as the loop last published it, every
     * COMMIT_INTERVAL_MS (consumer_paused). */
    atomic_int pub_held, pub_full, pub_bp;
    rd_kafka_queue_t *queue;  /* librdkafka's consumer queue (its length) */
    struct prefetch prefetch; /* when to wake the fetchers (prefetch.h) */
    unsigned since_check;     /* records since the last look at the queue */
};

/* Publishes the pause state for other threads (consumer thread). */
static void publish(struct consumer *c)
{
    atomic_store_explicit(&c->pub_held, c->held->cnt, memory_order_relaxed);
    atomic_store_explicit(&c->pub_full, c->full->cnt, memory_order_relaxed);
    atomic_store_explicit(&c->pub_bp, c->bp_paused ? c->assigned->cnt : 0, memory_order_relaxed);
}

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

/* Commits the maps that changed (only == NULL, async), or those of the
 * listed partitions (sync), to the maps' group.  Failures come back
 * through commit_cb. */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque);

static void commit_maps(struct consumer *c, const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *list = offsets_commit_list(c->offsets, c->map_budget, only);
    if (list == NULL) {
        return;
    }
    /* The offsets the maps are for are stored too (a partition whose first
     * record is not resolved yet has stored nothing), so that the group
     * commits the offset each map is written for.  A list of its own:
     * librdkafka keeps a handle's partition references in the elements a
     * call has seen, which must not reach the other handle. */
    rd_kafka_topic_partition_list_t *store = rd_kafka_topic_partition_list_new(list->cnt);
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_list_add(store, list->elems[i].topic, list->elems[i].partition)
            ->offset = list->elems[i].offset;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, store);
    rd_kafka_topic_partition_list_destroy(store);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_debug("%s: offsets_store: %s", c->name, rd_kafka_err2str(err));
    }
    if (only == NULL) {
        err = rd_kafka_commit(c->maps_rk, list, 1);
    } else {
        /* Synchronous, but bounded (rd_kafka_commit would wait forever). */
        rd_kafka_queue_t *q = rd_kafka_queue_new(c->maps_rk);
        err = rd_kafka_commit_queue(c->maps_rk, list, q, NULL, NULL);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, COMMITTED_TIMEOUT_MS);
            err = ev != NULL ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
            if (ev != NULL) {
                /* The event's error is set only when every partition
                 * failed: each partition's own result goes to commit_cb. */
                commit_cb(c->maps_rk, err, rd_kafka_event_topic_partition_list(ev), c);
                rd_kafka_event_destroy(ev);
            }
        }
        rd_kafka_queue_destroy(q);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("%s: committing offset maps: %s", c->name, rd_kafka_err2str(err));
        for (int i = 0; i < list->cnt; i++) {
            offsets_commit_failed(c->offsets, list->elems[i].topic, list->elems[i].partition);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Results of the maps' commits (consumer thread, or main in
 * consumer_close). */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)err;
    struct consumer *c = opaque;
    int halved = 0; /* once per answer, however many partitions it refused */
    for (int i = 0; offsets != NULL && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        if (tp->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            continue;
        }
        offsets_commit_failed(c->offsets, tp->topic, tp->partition);
        if (tp->err == RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE && !halved &&
            c->map_budget > MAP_BUDGET_MIN) {
            halved = 1;
            c->map_budget = c->map_budget / 2 > MAP_BUDGET_MIN ? c->map_budget / 2 : MAP_BUDGET_MIN;
            log_warn("%s: the broker refused a commit's metadata as too large "
                     "(offset.metadata.max.bytes): maps now at most %zu bytes",
                     c->name, c->map_budget);
        } else {
            log_debug("%s: commit %s[%d]: %s", c->name, tp->topic, (int)tp->partition,
                      rd_kafka_err2str(tp->err));
        }
    }
}

static int is_held(const struct consumer *c, const char *topic, int32_t partition)
{
    return rd_kafka_topic_partition_list_find(c->held, topic, partition) != NULL;
}

static int is_full(const struct consumer *c, const char *topic, int32_t partition)
{
    return rd_kafka_topic_partition_list_find(c->full, topic, partition) != NULL;
}

/* No reason to keep the partition paused. */
static int runnable(const struct consumer *c, const char *topic, int32_t partition)
{
    return !c->bp_paused && !is_held(c, topic, partition) && !is_full(c, topic, partition);
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
 * That includes partitions not polled from since their assignment, whose
 * position librdkafka does not know: 2.0.2 drops their prefetched records
 * too and fetches them again from the offset it started them at, losing
 * none (docs/pause.md, tests/unit/test_pauseresume.c).  offsets.c would
 * not notice a gap: it commits past whatever it is not handed.
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
            if (runnable(c, tp->topic, tp->partition)) {
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
    if (runnable(c, topic, partition)) {
        set_paused(c, topic, partition, 0);
    }
}

/* The tracker's bound, after a record of (topic, partition) was handled:
 * at the bound the partition pauses. */
static void check_full(struct consumer *c, const char *topic, int32_t partition)
{
    if (!offsets_full(c->offsets, topic, partition) || is_full(c, topic, partition)) {
        return;
    }
    rd_kafka_topic_partition_list_add(c->full, topic, partition);
    set_paused(c, topic, partition, 1);
    metrics_inc(M_partitions_paused_full);
    log_debug("%s: %s[%d] paused: %zu records tracked behind an unresolved one", c->name, topic,
              (int)partition, offsets_tracked(c->offsets, topic, partition));
}

/* Partitions paused at the bound that have drained below it resume. */
static void drain_full(struct consumer *c)
{
    for (int i = c->full->cnt - 1; i >= 0; i--) {
        const rd_kafka_topic_partition_t *tp = &c->full->elems[i];
        if (offsets_full(c->offsets, tp->topic, tp->partition)) {
            continue;
        }
        char *topic = xstrdup(tp->topic);
        int32_t partition = tp->partition;
        rd_kafka_topic_partition_list_del_by_idx(c->full, i);
        if (runnable(c, topic, partition)) {
            set_paused(c, topic, partition, 0);
            log_debug("%s: %s[%d] resumed: below the tracker's bound", c->name, topic,
                      (int)partition);
        }
        free(topic);
    }
}

/* Each loop turn: store what resolved, commit the maps every
 * COMMIT_INTERVAL_MS, resume what drained. */
static void offsets_turn(struct consumer *c)
{
    store_offsets(c);
    int64_t now = util_mono_ms();
    if (now >= c->next_commit_ms) {
        commit_maps(c, NULL);
        c->next_commit_ms = now + COMMIT_INTERVAL_MS;
        publish(c); /* for /metrics and the stats line: once a second will do */
    }
    rd_kafka_poll(c->maps_rk, 0); /* commit_cb */
    if (c->full->cnt > 0) {
        drain_full(c);
    }
}

/* Hands a record to the handler, unless the previous owner's commit
 * metadata listed it as resolved; then checks the tracker's bound. */
static void handle(struct consumer *c, rd_kafka_message_t *rkm)
{
    char topic[512];
    snprintf(topic, sizeof(topic), "%s", rd_kafka_topic_name(rkm->rkt));
    int32_t partition = rkm->partition;
    if (offsets_skip(c->offsets, topic, partition, rkm->offset)) {
        (void)offsets_track(c->offsets, topic, partition, rkm->offset, 0);
        metrics_inc(M_records_skipped);
        rd_kafka_message_destroy(rkm);
    } else {
        c->h.on_message(c, rkm, c->h.arg);
    }
    check_full(c, topic, partition);
}

/* Reads the committed offsets and maps of newly assigned partitions:
 * fetching starts at those offsets and the records the maps list as
 * resolved are skipped.  Without an answer librdkafka reads the offsets
 * itself and nothing is skipped. */
static void read_committed(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_topic_partition_list_t *maps = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(c->offsets, parts->elems[i].topic, parts->elems[i].partition);
    }
    rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, committed, COMMITTED_TIMEOUT_MS);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = rd_kafka_committed(c->maps_rk, maps, COMMITTED_TIMEOUT_MS);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("%s: reading the committed offsets and maps: %s (nothing skipped)", c->name,
                 rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &committed->elems[i];
        if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            continue;
        }
        rd_kafka_topic_partition_t *dst =
            rd_kafka_topic_partition_list_find(parts, tp->topic, tp->partition);
        if (dst != NULL && tp->offset >= 0) {
            dst->offset = tp->offset; /* fetch from the offset the map is for */
        }
        const rd_kafka_topic_partition_t *map =
            rd_kafka_topic_partition_list_find(maps, tp->topic, tp->partition);
        log_debug("%s: %s[%d] committed at %lld, map for %lld", c->name, tp->topic,
                  (int)tp->partition, (long long)tp->offset,
                  map != NULL && map->err == RD_KAFKA_RESP_ERR_NO_ERROR ? (long long)map->offset
                                                                        : -1LL);
        /* A map is written for the offset after its owner's resolved
         * prefix: everything before is resolved, and so is every record it
         * lists, whichever of it and the group's own commit is newer.  The
         * commit may lag it (auto-commit every second), be refused (a
         * revoke during a rebalance: REBALANCE_IN_PROGRESS,
         * ILLEGAL_GENERATION), or be missing (librdkafka does not commit
         * the offset it started at); or be newer, the map's runs before it
         * then being of no use. */
        if (map == NULL || map->err != RD_KAFKA_RESP_ERR_NO_ERROR || map->offset < 0) {
            continue; /* no map */
        }
        if (dst != NULL && map->offset > tp->offset) {
            dst->offset = map->offset; /* what precedes it is resolved */
        }
        int64_t n = offsets_set_skip(c->offsets, tp->topic, tp->partition, map->offset,
                                     map->metadata, map->metadata_size);
        if (n > 0) {
            log_json(LVL_INFO, "resolved records to skip",
                     json_pack("{s:s, s:s, s:i, s:I, s:I}", "consumer", c->name, "topic", tp->topic,
                               "partition", (int)tp->partition, "from", (json_int_t)map->offset,
                               "count", (json_int_t)n));
        }
    }
out:
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(maps);
}

static void revoke(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    if (c->h.on_revoke != NULL) {
        c->h.on_revoke(c, parts, c->h.arg);
    }
    /* The records in flight of the revoked partitions resolve first (the
     * workers and the producer go on meanwhile), for at most
     * revoke_wait_ms: then what is resolved is committed, with its map,
     * before the partitions go, and the next owner delivers nothing twice
     * but what was still unresolved at the deadline. */
    /* While closing the pipeline has drained already: what is unresolved
     * now (a record Kafka has not acknowledged) stays so. */
    int64_t deadline = util_mono_ms() + (atomic_load(&c->running) ? c->revoke_wait_ms : 0);
    size_t left = offsets_unsettled(c->offsets, parts);
    log_debug("%s: revoking %d partitions: %zu records unresolved, %zu tracked over all", c->name,
              parts->cnt, left, offsets_pending(c->offsets));
    while (left > 0 && util_mono_ms() < deadline) {
        struct timespec ts = {0, REVOKE_POLL_MS * 1000 * 1000};
        nanosleep(&ts, NULL);
        left = offsets_unsettled(c->offsets, parts);
    }
    if (left > 0) {
        log_json(LVL_WARN, "revoked with records unresolved",
                 json_pack("{s:s, s:I, s:I}", "consumer", c->name, "records", (json_int_t)left,
                           "waited_ms", (json_int_t)c->revoke_wait_ms));
    }
    store_offsets(c);
    commit_maps(c, parts); /* stores the maps' offsets too */
    /* Under the cooperative protocol the revoke comes after the SyncGroup,
     * and the coordinator may still answer REBALANCE_IN_PROGRESS until
     * every member has synced: a commit refused then is tried again, for
     * REVOKE_COMMIT_RETRY_MS at most. */
    int64_t retry_until = util_mono_ms() + REVOKE_COMMIT_RETRY_MS;
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
    while (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS && util_mono_ms() < retry_until) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        err = rd_kafka_commit(c->rk, NULL, 0);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        log_warn("%s: commit on revoke: %s", c->name, rd_kafka_err2str(err));
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(c->offsets, parts->elems[i].topic, parts->elems[i].partition);
        rd_kafka_topic_partition_list_del(c->full, parts->elems[i].topic,
                                          parts->elems[i].partition);
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
        if (atomic_load(&c->running)) { /* not while closing */
            read_committed(c, parts);
        }
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
        /* Only the partitions just assigned: librdkafka 2.0.2 may move a
         * partition's fetch position back when it resumes one that is not
         * paused (librdkafka #4686, fixed in 2.5.0). */
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
    c->rebalances++;
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

/* Wakes the broker threads that fetch the partitions this loop consumes
 * (prefetch.h): a ListOffsets request for their latest offsets goes to
 * each leader, whose thread then decides to fetch again.  It changes no
 * fetch position and no pause state, and does not wait for the answers. */
static void wake_fetchers(struct consumer *c)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(c->assigned->cnt);
    for (int i = 0; i < c->assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &c->assigned->elems[i];
        if (runnable(c, tp->topic, tp->partition)) {
            rd_kafka_topic_partition_list_add(list, tp->topic, tp->partition)->offset =
                RD_KAFKA_OFFSET_END;
        }
    }
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c->rk, list, FETCH_WAKE_TIMEOUT_MS);
        /* Counted only when a request was handed to a leader's broker
         * thread: __TIMED_OUT is also what a call that found no leader yet
         * returns, having sent nothing (prefetch_wake_sent). */
        if (prefetch_wake_sent(err, list) > 0) {
            metrics_inc(M_fetch_wakeups);
        } else {
            /* tried again at a later look at the queue */
            prefetch_unsent(&c->prefetch);
            log_debug("%s: waking the fetchers: no request sent (%s)", c->name,
                      rd_kafka_err2str(err));
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* After a record (rkm_len its value's bytes), or with none (rkm_len -1): looks at
 * librdkafka's queue now and then, and wakes the fetchers when it has
 * drained (prefetch.h). */
static void prefetch_turn(struct consumer *c, ssize_t rkm_len)
{
    if (rkm_len >= 0) {
        prefetch_record(&c->prefetch, (size_t)rkm_len);
        if (++c->since_check < PREFETCH_CHECK_EVERY) {
            return;
        }
    }
    c->since_check = 0;
    if (!c->bp_paused &&
        prefetch_decide(&c->prefetch, rd_kafka_queue_length(c->queue), util_mono_ms())) {
        wake_fetchers(c);
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
            offsets_turn(c);
            continue;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, (int)wait_ms);
        prefetch_turn(c, rkm != NULL && rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR ? (ssize_t)rkm->len
                                                                               : -1);
        if (rkm != NULL) {
            if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                handle(c, rkm);
            } else if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
                /* A consumer's fatal error comes here, not to error_cb
                 * (e.g. FENCED_INSTANCE_ID: another member took its
                 * group.instance.id).  The consumer is dead for good: the
                 * process must stop and be restarted, not run on without
                 * it. */
                kafka_fatal_consumer(c->rk, c->name);
                rd_kafka_message_destroy(rkm);
                break;
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
        offsets_turn(c);
    }
    return NULL;
}

/* The maps' group's handle: commits and reads offsets, never joins.  NULL
 * on error. */
static rd_kafka_t *maps_new(struct consumer *c, const struct conf *conf, const char *bootstrap,
                            const struct consumer_opts *opts, char *errstr, size_t errstr_size)
{
    char client_id[128];
    char *group = NULL;
    rd_kafka_t *rk = NULL;
    snprintf(client_id, sizeof(client_id), "webhook-bridge-%s-maps", opts->name);
    rd_kafka_conf_t *kconf = kafka_conf_new(conf, bootstrap, client_id, errstr, errstr_size);
    if (kconf == NULL) {
        goto out;
    }
    size_t size = strlen(opts->group_id) + sizeof("-offset-maps");
    group = xmalloc(size);
    snprintf(group, size, "%s-offset-maps", opts->group_id);
    if (kafka_conf_set(kconf, "group.id", group, errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "enable.auto.commit", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "enable.auto.offset.store", "false", errstr, errstr_size) != 0) {
        goto out;
    }
    rd_kafka_conf_set_offset_commit_cb(kconf, commit_cb);
    rd_kafka_conf_set_opaque(kconf, c);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, errstr_size);
    if (rk != NULL) {
        kconf = NULL;
    }
out:
    if (kconf != NULL) {
        rd_kafka_conf_destroy(kconf);
    }
    free(group);
    return rk;
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
    /* A member that dies (kill -9, a node lost) keeps its partitions until
     * its session times out: librdkafka's 45 s is that long a stall of
     * every first attempt and retry on them.  10 s (heartbeats every 3 s;
     * the broker's group.min.session.timeout.ms is 6 s by default) bounds
     * it; librdkafka's own thread sends the heartbeats, so a busy pipeline
     * never misses one.  A user property wins (static membership wants a
     * longer one: README). */
    if (kafka_conf_set(kconf, "session.timeout.ms", "10000", errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "heartbeat.interval.ms", "3000", errstr, errstr_size) != 0) {
        goto fail;
    }
    /* Commit stored offsets every second: what a crash redelivers is what was
     * in flight plus at most one second of resolved records not in a map. */
    if (kafka_conf_set(kconf, "auto.commit.interval.ms", "1000", errstr, errstr_size) != 0) {
        goto fail;
    }
    /* partition.assignment.strategy stays librdkafka's eager default
     * (range,roundrobin): its cooperative-sticky protocol in 2.0.2 declares
     * the assignment lost when a commit meets a rebalance (librdkafka
     * #4059, fixed in 2.10.0: every partition revoked and replayed), can
     * hang or assert when an assignment comes while the consumer closes
     * (#4527, fixed in 2.5.0; an abort in rd_kafka_cgrp_terminated seen
     * here), and may move a fetch position back on resume (#4686).  Under
     * the eager protocol a revoke waits for the records in flight (revoke),
     * so a rebalance duplicates nothing either way.  A user property may
     * still choose cooperative-sticky (tests/e2e/graceful_coop.sh). */
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
    /* The queue's bounds as set (ours or the user's), for prefetch. */
    char qkb[32] = "", qmsgs[32] = "";
    size_t qkb_size = sizeof(qkb), qmsgs_size = sizeof(qmsgs);
    if (rd_kafka_conf_get(kconf, "queued.max.messages.kbytes", qkb, &qkb_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_get(kconf, "queued.min.messages", qmsgs, &qmsgs_size) != RD_KAFKA_CONF_OK) {
        util_errf(errstr, errstr_size, "%s: cannot read the queue's bounds", opts->name);
        goto fail;
    }
    struct consumer *c = xcalloc(1, sizeof(*c));
    prefetch_init(&c->prefetch, strtoll(qkb, NULL, 10), strtoll(qmsgs, NULL, 10));
    c->name = xstrdup(opts->name);
    c->h = *h;
    c->pl = pl;
    c->offsets = offsets_new((size_t)conf->delivery.max_in_flight * OFFSETS_LIMIT_FACTOR);
    c->assigned = rd_kafka_topic_partition_list_new(8);
    c->held = rd_kafka_topic_partition_list_new(8);
    c->full = rd_kafka_topic_partition_list_new(8);
    c->map_budget = MAP_BUDGET;
    c->next_commit_ms = util_mono_ms() + COMMIT_INTERVAL_MS;
    c->revoke_wait_ms = conf->delivery.drain_timeout_ms;
    rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
    rd_kafka_conf_set_stats_cb(kconf, stats_cb);
    pthread_mutex_init(&c->stats_lock, NULL);
    atomic_init(&c->heartbeat_ms, util_mono_ms());
    rd_kafka_conf_set_opaque(kconf, c);
    c->maps_rk = maps_new(c, conf, bootstrap, opts, errstr, errstr_size);
    if (c->maps_rk != NULL) {
        c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr, (size_t)errstr_size);
    }
    if (c->rk == NULL) {
        if (c->maps_rk != NULL) {
            rd_kafka_destroy(c->maps_rk);
        }
        pthread_mutex_destroy(&c->stats_lock);
        offsets_destroy(c->offsets);
        rd_kafka_topic_partition_list_destroy(c->assigned);
        rd_kafka_topic_partition_list_destroy(c->held);
        rd_kafka_topic_partition_list_destroy(c->full);
        free(c->name);
        free(c);
        goto fail;
    }
    kconf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
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

/* Leaves the group before rd_kafka_consumer_close, serving the rebalance
 * callbacks in this poll: librdkafka 2.0.2 can hang in an assign call, or
 * abort (rd_kafka_cgrp_terminated: "assignment in progress"), when a
 * rebalance completes inside rd_kafka_consumer_close (librdkafka #4527,
 * fixed in 2.5; seen in e2e fleet with SIGTERM during a rebalance).  After
 * the unsubscribe the member's assignment is revoked (revoke() commits)
 * and it leaves; a rebalance under way ends here, not in the close.  Done
 * when nothing is assigned and no callback came for LEAVE_QUIET_MS, or at
 * the deadline.  Records polled meanwhile are dropped unhandled: their
 * offsets are not stored, so the next owner consumes them. */
static void leave_group(struct consumer *c)
{
    rd_kafka_resp_err_t err = rd_kafka_unsubscribe(c->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("%s: unsubscribe: %s", c->name, rd_kafka_err2str(err));
        return;
    }
    if (rd_kafka_assignment_lost(c->rk)) {
        /* No revoke comes for a lost assignment (rdkafka_cgrp.c): the
         * group has moved on without this member already. */
        return;
    }
    int64_t now = util_mono_ms();
    int64_t deadline = now + LEAVE_EXTRA_MS;
    int64_t quiet_since = now;
    int seen = c->rebalances;
    while (now < deadline) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, 100);
        if (rkm != NULL) {
            rd_kafka_message_destroy(rkm);
        }
        now = util_mono_ms();
        if (c->rebalances != seen) {
            seen = c->rebalances;
            quiet_since = now;
        }
        if (c->assigned->cnt == 0 && now - quiet_since >= LEAVE_QUIET_MS) {
            return;
        }
    }
    log_warn("%s: still assigned %d partitions after unsubscribing; closing anyway", c->name,
             c->assigned->cnt);
}

void consumer_close(struct consumer *c)
{
    if (c == NULL) {
        return;
    }
    consumer_stop(c);
    leave_group(c);
    /* Leaves the group: the revoke callback commits what is resolved. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("%s: close: %s", c->name, rd_kafka_err2str(err));
    }
    if (c->queue != NULL) {
        rd_kafka_queue_destroy(c->queue);
    }
    rd_kafka_destroy(c->rk);
    rd_kafka_poll(c->maps_rk, 0); /* the last commits' results */
    rd_kafka_destroy(c->maps_rk);
    json_decref(c->lags);
    pthread_mutex_destroy(&c->stats_lock);
    offsets_destroy(c->offsets);
    rd_kafka_topic_partition_list_destroy(c->assigned);
    rd_kafka_topic_partition_list_destroy(c->held);
    rd_kafka_topic_partition_list_destroy(c->full);
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

void consumer_paused(const struct consumer *c, struct consumer_pauses *out)
{
    struct consumer *m = (struct consumer *)c;
    out->assigned = atomic_load(&m->n_assigned);
    out->held = atomic_load_explicit(&m->pub_held, memory_order_relaxed);
    out->full = atomic_load_explicit(&m->pub_full, memory_order_relaxed);
    out->backpressure = atomic_load_explicit(&m->pub_bp, memory_order_relaxed);
}

int consumer_assigned(const struct consumer *c)
{
    return atomic_load(&((struct consumer *)c)->n_assigned) > 0;
}
