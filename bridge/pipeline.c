/*
 * pipeline: the outcome of each attempt, decided by the schedule, and the
 * bookkeeping that ends a delivery.  pipeline_attempt_done runs on worker
 * threads; `produced` runs on the producer's poll thread (or main, while it
 * flushes).  Nothing here blocks on the network.  A delivery ends in
 * finish (delivery_destroy): the last delivery of a routed event hands the
 * event's allocation back to pl->home, and the events consumer's thread,
 * which made it, frees it (router.c); pipeline_end frees what is left at
 * exit.
 */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>

#include "attempts.h"
#include "consumer.h"
#include "conf.h"
#include "deadletter.h"
#include "deliver.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "producer.h"
#include "schedule.h"

/* Ends dl: its record may be stored (resolved) or must not be (abandoned). */
static void finish(struct pipeline *pl, struct delivery *dl, int resolved)
{
    if (dl->entry != NULL) {
        if (resolved) {
            offsets_release(dl->entry);
        } else {
            offsets_abandon(dl->entry);
        }
    }
    delivery_destroy(dl);
    atomic_fetch_sub_explicit(&pl->in_flight, 1, memory_order_acq_rel);
}

struct produced_ctx {
    struct pipeline *pl;
    struct delivery *dl;
    int parking;         /* 1: a delay record, 0: a dead letter */
    int64_t interval_ms; /* parking: its delay topic's interval */
};

/* The first record a delay topic takes (since start) tells the delay
 * consumer to look for it at once: a topic the cluster has just
 * auto-created would otherwise be seen only at its next metadata refresh,
 * seconds after short retry intervals were due. */
static void note_parked(struct pipeline *pl, int64_t interval_ms)
{
    int first = 1;
    pthread_mutex_lock(&pl->parked_lock);
    for (size_t i = 0; i < pl->n_parked_intervals && first; i++) {
        first = pl->parked_intervals[i] != interval_ms;
    }
    if (first && pl->n_parked_intervals < WB_ARRAY_LEN(pl->parked_intervals)) {
        pl->parked_intervals[pl->n_parked_intervals++] = interval_ms;
    }
    if (first) {
        /* Under the lock: main clears pl->delay under it before closing the
         * consumer, so the pointer is never used after that. */
        consumer_refresh_subscription(pl->delay);
    }
    pthread_mutex_unlock(&pl->parked_lock);
}

static void dead_letter(struct pipeline *pl, struct delivery *dl, const char *reason);

/* A delay record Kafka refuses for good goes to the dead-letter topic (its
 * retries cannot go on); a dead letter refused for good leaves the record's
 * offset unstored (deadletter.c has said so loudly). */
static enum producer_verdict produced(void *arg, enum producer_status status, const char *error)
{
    struct produced_ctx *ctx = arg;
    struct pipeline *pl = ctx->pl;
    struct delivery *dl = ctx->dl;
    int parking = ctx->parking;
    int64_t interval_ms = ctx->interval_ms;
    free(ctx);
    if (parking && status == PRODUCER_DURABLE) {
        note_parked(pl, interval_ms);
    }
    if (parking && (status == PRODUCER_REFUSED || status == PRODUCER_TOO_LARGE)) {
        log_json(LVL_WARN, "Kafka refused a parked delivery; dead-lettering it",
                 json_pack("{s:s, s:s, s:s}", "deliveryId", dl->id, "endpointId", dl->endpoint_id,
                           "error", error != NULL ? error : ""));
        dead_letter(pl, dl, status == PRODUCER_TOO_LARGE ? "record_too_large" : "park_refused");
        return PRODUCER_DONE;
    }
    finish(pl, dl, status == PRODUCER_DURABLE);
    return PRODUCER_DONE;
}

static struct produced_ctx *ctx_new(struct pipeline *pl, struct delivery *dl, int parking)
{
    struct produced_ctx *ctx = xmalloc(sizeof(*ctx));
    ctx->pl = pl;
    ctx->dl = dl;
    ctx->parking = parking;
    ctx->interval_ms = 0;
    return ctx;
}

static void park(struct pipeline *pl, struct delivery *dl, int64_t due_ms, int64_t interval_ms)
{
    char topic[300], due[24];
    if (due_ms <= util_now_ms()) {
        /* Due already (an attempt slower than the interval, or made late):
         * on its interval's topic it would wait behind records parked just
         * before it, due up to a whole interval from now, and be late by
         * that much again at every retry.  <prefix>-0s holds only records
         * due by the time they were produced, so it is attempted at once,
         * as its nominal schedule says. */
        interval_ms = 0;
    }
    schedule_topic_name(pl->conf->kafka.delay_prefix, interval_ms, topic, sizeof(topic));
    dl->due_ms = due_ms;
    dl->outcome = OUTCOME_NONE;
    dl->retry_after_ms = 0;
    size_t len = 0;
    char *value = delivery_to_record(dl, &len);
    if (value == NULL || len > producer_value_max(pl->producer)) {
        /* Checked here, not left to Kafka: a refused record would only be
         * dead-lettered later, one round trip and one log line worse. */
        free(value);
        dead_letter(pl, dl, value == NULL ? "park_refused" : "record_too_large");
        return;
    }
    snprintf(due, sizeof(due), "%lld", (long long)due_ms);
    struct produced_ctx *ctx = ctx_new(pl, dl, 1);
    ctx->interval_ms = interval_ms;
    producer_send(pl->producer, topic, dl->endpoint_id, value, len, produced, ctx, "due-at", due,
                  PRODUCER_END);
}

static void dead_letter(struct pipeline *pl, struct delivery *dl, const char *reason)
{
    deadletter_delivery(pl->producer, pl->conf, dl, reason, produced, ctx_new(pl, dl, 0));
}

struct pipeline_send {
    struct pipeline *pl;
    struct offsets_entry *entry;
};

void *pipeline_send_begin(struct pipeline *pl, struct offsets_entry *e)
{
    struct pipeline_send *s = xmalloc(sizeof(*s));
    s->pl = pl;
    s->entry = e;
    atomic_fetch_add_explicit(&pl->in_flight, 1, memory_order_acq_rel);
    return s;
}

enum producer_verdict pipeline_send_done(void *send, enum producer_status status, const char *error)
{
    (void)error;
    struct pipeline_send *s = send;
    if (status == PRODUCER_DURABLE) {
        offsets_release(s->entry);
    } else {
        offsets_abandon(s->entry);
    }
    atomic_fetch_sub_explicit(&s->pl->in_flight, 1, memory_order_acq_rel);
    free(s);
    return PRODUCER_DONE;
}

void pipeline_dispatch(struct pipeline *pl, struct delivery *dl)
{
    atomic_fetch_add_explicit(&pl->in_flight, 1, memory_order_acq_rel);
    deliver_submit(pl->deliver, dl);
}

void pipeline_park(struct pipeline *pl, struct delivery *dl, int64_t due_ms, int64_t interval_ms)
{
    atomic_fetch_add_explicit(&pl->in_flight, 1, memory_order_acq_rel);
    park(pl, dl, due_ms, interval_ms);
}

void pipeline_dead_letter(struct pipeline *pl, struct delivery *dl, const char *reason)
{
    atomic_fetch_add_explicit(&pl->in_flight, 1, memory_order_acq_rel);
    dead_letter(pl, dl, reason);
}

void pipeline_attempt_done(struct delivery *dl, void *opaque)
{
    struct pipeline *pl = opaque;
    const struct attempt *a = delivery_last_attempt(dl);

    if (dl->outcome == OUTCOME_NONE) {
        /* Never attempted: the workers are stopping.  Parked due at once on
         * <prefix>-0s, where the next delay scheduler (this replica after a
         * restart, or another) attempts it, rather than abandoned: its event
         * would then be consumed again and delivered again to the endpoints
         * that already have it. */
        metrics_inc(M_deliveries_parked_at_stop);
        park(pl, dl, util_now_ms(), 0);
        return;
    }
    if (dl->outcome == OUTCOME_DEFERRED) {
        /* The endpoint's circuit is open: park without an attempt, at the
         * next nominal slot of its schedule (the deferral uses this one),
         * rather than hold a place in the budget. */
        metrics_inc(M_deliveries_deferred);
        struct schedule_decision d;
        dl->deferrals += schedule_deferred(pl->conf, dl, util_now_ms(), &d);
        if (d.action == SCHEDULE_PARK) {
            park(pl, dl, d.due_ms, d.interval_ms);
        } else if (!dl->last_chance) {
            /* Parking it again would end its window unattempted: it gets
             * one attempt now if the endpoint has room (deliver.c). */
            dl->last_chance = 1;
            deliver_submit(pl->deliver, dl);
        } else {
            dead_letter(pl, dl, d.reason != NULL ? d.reason : "retry_window_expired");
        }
        return;
    }
    metrics_inc(M_attempts);
    metrics_attempt_class(a != NULL && a->error == NULL ? a->status : 0);
    if (a != NULL) {
        metrics_observe(H_attempt_duration, a->duration_ms);
        attempts_log(pl->attempts, dl);
    }
    if (dl->outcome == OUTCOME_SUCCESS) {
        metrics_inc(M_deliveries_succeeded);
        if (delivery_attempt_count(dl) == 1 && dl->record_ts_ms > 0) {
            metrics_observe(H_delivery_latency, util_now_ms() - dl->record_ts_ms);
        }
        finish(pl, dl, 1);
        return;
    }
    metrics_inc(M_attempts_failed);
    if (log_enabled(LVL_DEBUG) && a != NULL) {
        log_json(LVL_DEBUG, "attempt failed",
                 json_pack("{s:s, s:s, s:i, s:i, s:s?}", "eventId", dl->event_id, "endpointId",
                           dl->endpoint_id, "attempt", a->n, "status", a->status, "error",
                           a->error));
    }
    struct schedule_decision d;
    schedule_next(pl->conf, dl, &d);
    switch (d.action) {
    case SCHEDULE_PARK:
        metrics_inc(M_deliveries_parked);
        park(pl, dl, d.due_ms, d.interval_ms);
        break;
    case SCHEDULE_DEAD:
        dead_letter(pl, dl, d.reason);
        break;
    case SCHEDULE_DONE:
    default:
        finish(pl, dl, 1);
        break;
    }
}

void pipeline_end(struct pipeline *pl)
{
    payload_home_drain(&pl->home);
}

int pipeline_saturated(struct pipeline *pl)
{
    return atomic_load_explicit(&pl->in_flight, memory_order_relaxed) >=
           pl->conf->delivery.max_in_flight;
}

int pipeline_has_room(struct pipeline *pl)
{
    return atomic_load_explicit(&pl->in_flight, memory_order_relaxed) <=
           (long)pl->conf->delivery.max_in_flight * 3 / 4;
}
