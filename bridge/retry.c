/*
 * retry: per-partition held head records and their wake-up times.  Consumer
 * thread only (retry_destroy on main after the consumer is closed).
 */
#include "retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "deadletter.h"
#include "delivery.h"
#include "duration.h"
#include "endpoint.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "pipeline.h"
#include "registry.h"
#include "schedule.h"

struct held {
    rd_kafka_message_t *rkm;
    struct offsets_entry *entry;
    int64_t due_ms;  /* the due-at header */
    int64_t wake_ms; /* min(due, appended + topic interval) */
    int64_t interval_ms;
};

struct retry {
    struct pipeline *pl;
    struct held *held; /* one per paused partition */
    size_t n_held;
};

struct retry *retry_new(struct pipeline *pl)
{
    struct retry *r = xcalloc(1, sizeof(*r));
    r->pl = pl;
    return r;
}

void retry_destroy(struct retry *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n_held; i++) {
        offsets_abandon(r->held[i].entry);
        rd_kafka_message_destroy(r->held[i].rkm);
    }
    free(r->held);
    free(r);
}

/* The interval of a delay topic, from its name; 0 when it has none. */
static int64_t topic_interval(const struct conf *conf, const char *topic)
{
    size_t plen = strlen(conf->kafka.delay_prefix);
    int64_t ms = 0;
    char why[128];
    if (strncmp(topic, conf->kafka.delay_prefix, plen) != 0 || topic[plen] != '-' ||
        duration_parse(topic + plen + 1, &ms, why, sizeof(why)) != 0) {
        return 0;
    }
    return ms;
}

static int64_t header_due(const rd_kafka_message_t *rkm)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t len;
    if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, "due-at", &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        val == NULL || len == 0 || len > 20) {
        return 0; /* no header: due now */
    }
    char buf[24];
    memcpy(buf, val, len);
    buf[len] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end == '\0' && v > 0 ? v : 0;
}

/* Dead-letters a delay record that is not one we can act on. */
static void dead_letter_raw(struct retry *r, const rd_kafka_message_t *rkm, struct offsets_entry *e,
                            const char *reason, const char *error)
{
    struct pipeline *pl = r->pl;
    struct deadletter_source src = {rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset};
    deadletter_raw(pl->producer, pl->conf, reason, &src, rkm->key, rkm->key_len, rkm->payload,
                   rkm->len, error, pipeline_send_done, pipeline_send_begin(pl, e));
}

/* A re-park Kafka refused for good goes to the dead-letter topic: it keeps
 * the record's bytes for that. */
struct repark_ctx {
    struct producer *producer; /* not the retry handler: it may be gone by the last reports */
    const struct conf *conf;
    void *send; /* pipeline_send_begin: the record's entry, counted in flight */
    struct deadletter_source src;
    char *topic;
    char *key;
    char *value;
    size_t len;
};

static enum producer_verdict reparked(void *arg, enum producer_status status, const char *error)
{
    struct repark_ctx *c = arg;
    if (status == PRODUCER_REFUSED || status == PRODUCER_TOO_LARGE) {
        deadletter_raw(c->producer, c->conf,
                       status == PRODUCER_TOO_LARGE ? "record_too_large" : "park_refused", &c->src,
                       c->key, strlen(c->key), c->value, c->len, error != NULL ? error : "refused",
                       pipeline_send_done, c->send);
    } else {
        pipeline_send_done(c->send, status, error);
    }
    free(c->topic);
    free(c->key);
    free(c->value);
    free(c);
    return PRODUCER_DONE;
}

/* The parked delivery in rkm, checked as input: a valid delivery record
 * whose embedded event is a valid event that says what the record says.
 * NULL (and the record dead-lettered as invalid_event) otherwise. */
static struct delivery *parse_parked(struct retry *r, const rd_kafka_message_t *rkm,
                                     struct offsets_entry *e)
{
    char err[512];
    struct delivery *dl = delivery_from_record(rkm->payload, rkm->len, err, sizeof(err));
    if (dl == NULL) {
        metrics_inc(M_delay_records_invalid);
        dead_letter_raw(r, rkm, e, "invalid_event", err);
        return NULL;
    }
    struct event ev;
    if (event_parse(&ev, dl->body->data, dl->body->len,
                    (size_t)r->pl->conf->delivery.max_event_bytes, err, sizeof(err)) != 0) {
        metrics_inc(M_delay_records_invalid);
        char why[600];
        util_errf(why, sizeof(why), "delivery record: event: %s", err);
        dead_letter_raw(r, rkm, e, "invalid_event", why);
        delivery_destroy(dl);
        return NULL;
    }
    int same = strcmp(ev.id, dl->event_id) == 0 && strcmp(ev.type, dl->event_type) == 0 &&
               strcmp(ev.account_id, dl->account_id) == 0;
    if (!same) {
        metrics_inc(M_delay_records_invalid);
        dead_letter_raw(
            r, rkm, e, "invalid_event",
            "delivery record: eventId, eventType or accountId differs from its event's");
        delivery_destroy(dl);
        return NULL;
    }
    dl->entry = e;
    return dl;
}

/* 1 when dl's next attempt, due at due_ms, is past its window: a due-at
 * header beyond first attempt + window (clock skew, a forged header) ends
 * the delivery rather than re-parking it forever. */
static int past_window(const struct retry *r, const struct delivery *dl, int64_t due_ms)
{
    return dl->first_attempt_ms > 0 && due_ms > dl->first_attempt_ms + r->pl->conf->retry.window_ms;
}

/* Re-parks a record unchanged (same topic, same due-at): its wait was capped
 * at the topic's interval.  It is checked as any parked delivery first. */
static void repark(struct retry *r, struct held *h)
{
    const rd_kafka_message_t *rkm = h->rkm;
    struct delivery *dl = parse_parked(r, rkm, h->entry);
    if (dl == NULL) {
        return;
    }
    if (past_window(r, dl, h->due_ms)) {
        pipeline_dead_letter(r->pl, dl, "retry_window_expired");
        return;
    }
    delivery_destroy(dl);
    char due[24];
    snprintf(due, sizeof(due), "%lld", (long long)h->due_ms);
    struct repark_ctx *c = xcalloc(1, sizeof(*c));
    c->producer = r->pl->producer;
    c->conf = r->pl->conf;
    c->send = pipeline_send_begin(r->pl, h->entry);
    c->topic = xstrdup(rd_kafka_topic_name(rkm->rkt));
    c->src = (struct deadletter_source){c->topic, rkm->partition, rkm->offset};
    c->key = rkm->key != NULL ? xstrndup(rkm->key, strnlen(rkm->key, rkm->key_len)) : xstrdup("");
    c->value = xstrndup(rkm->payload, rkm->len);
    c->len = rkm->len;
    metrics_inc(M_deliveries_reparked);
    producer_send(r->pl->producer, c->topic, c->key, xstrndup(rkm->payload, rkm->len), rkm->len,
                  reparked, c, "due-at", due, PRODUCER_END);
}

/* A due record: attempt it again with the endpoint's current settings, if
 * the endpoint as it is now still takes this event. */
static void retry_record(struct retry *r, rd_kafka_message_t *rkm, struct offsets_entry *e,
                         int64_t due_ms)
{
    struct pipeline *pl = r->pl;
    struct delivery *dl = parse_parked(r, rkm, e);
    if (dl == NULL) {
        return;
    }
    int64_t now = util_now_ms();
    if (due_ms > 0) {
        dl->due_ms = due_ms;
    }
    struct endpoint *ep = registry_get(pl->registry, dl->endpoint_id);
    if (ep == NULL) {
        pipeline_dead_letter(pl, dl, "endpoint_removed");
        return;
    }
    if (!ep->enabled) {
        endpoint_unref(ep);
        /* Disabled: wait, without an attempt, until the window is over,
         * at the next nominal slot of its schedule, as a breaker deferral
         * does: enabled again, it gets the attempts its window has left. */
        struct schedule_decision d;
        dl->deferrals += schedule_deferred(pl->conf, dl, now, &d);
        if (d.action == SCHEDULE_PARK) {
            pipeline_park(pl, dl, d.due_ms, d.interval_ms);
        } else {
            pipeline_dead_letter(pl, dl, "endpoint_disabled");
        }
        return;
    }
    if (!endpoint_matches(ep, dl->account_id, dl->event_type)) {
        /* The id now names an endpoint of another account, or one that no
         * longer takes this type: never post account A's event to B's URL
         * nor sign it with B's secret. */
        endpoint_unref(ep);
        pipeline_dead_letter(pl, dl, "endpoint_changed");
        return;
    }
    /* The endpoint as it is now: its current URL and secrets. */
    delivery_set_url(dl, ep->url);
    endpoint_unref(dl->ep);
    dl->ep = ep;
    metrics_inc(M_deliveries_retried);
    metrics_observe(H_retry_lateness, now - dl->due_ms);
    pipeline_dispatch(pl, dl);
}

static void on_message(struct consumer *c, rd_kafka_message_t *rkm, void *arg)
{
    struct retry *r = arg;
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    struct offsets_entry *e =
        offsets_track(consumer_offsets(c), topic, rkm->partition, rkm->offset, 1);
    int64_t due = header_due(rkm);
    int64_t now = util_now_ms();
    if (due <= now) {
        retry_record(r, rkm, e, due);
        rd_kafka_message_destroy(rkm);
        return;
    }
    int64_t interval = topic_interval(r->pl->conf, topic);
    rd_kafka_timestamp_type_t tstype;
    int64_t appended = rd_kafka_message_timestamp(rkm, &tstype);
    /* Woken at its due time, or after the topic's interval at most (a
     * Retry-After beyond it is re-parked), or after the window on a topic
     * whose name gives no interval: a far due-at never holds a partition
     * longer than that (repark then checks it against the window). */
    int64_t cap = interval > 0 ? interval : r->pl->conf->retry.window_ms;
    int64_t wake = due;
    if (appended > 0 && appended + cap < wake) {
        wake = appended + cap;
    } else if (appended <= 0 && now + cap < wake) {
        wake = now + cap;
    }
    if (wake < now) {
        wake = now;
    }
    r->held = xrealloc(r->held, (r->n_held + 1) * sizeof(*r->held));
    r->held[r->n_held++] = (struct held){rkm, e, due, wake, interval};
    consumer_hold(c, topic, rkm->partition);
}

static int64_t on_tick(struct consumer *c, void *arg)
{
    struct retry *r = arg;
    int64_t now = util_now_ms();
    int64_t next = -1;
    size_t i = 0;
    while (i < r->n_held) {
        struct held *h = &r->held[i];
        if (h->wake_ms > now) {
            if (next < 0 || h->wake_ms - now < next) {
                next = h->wake_ms - now;
            }
            i++;
            continue;
        }
        struct held done = *h;
        r->held[i] = r->held[--r->n_held];
        if (done.due_ms <= now) {
            retry_record(r, done.rkm, done.entry, done.due_ms);
        } else {
            repark(r, &done);
        }
        consumer_unhold(c, rd_kafka_topic_name(done.rkm->rkt), done.rkm->partition);
        rd_kafka_message_destroy(done.rkm);
    }
    return next;
}

static void on_revoke(struct consumer *c, const rd_kafka_topic_partition_list_t *parts, void *arg)
{
    (void)c;
    struct retry *r = arg;
    size_t i = 0;
    while (i < r->n_held) {
        struct held *h = &r->held[i];
        if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(h->rkm->rkt),
                                               h->rkm->partition) == NULL) {
            i++;
            continue;
        }
        /* Not resolved: the next owner reads it again. */
        offsets_abandon(h->entry);
        rd_kafka_message_destroy(h->rkm);
        r->held[i] = r->held[--r->n_held];
    }
}

void retry_handler(struct consumer_handler *h, struct retry *r)
{
    memset(h, 0, sizeof(*h));
    h->on_message = on_message;
    h->on_tick = on_tick;
    h->on_revoke = on_revoke;
    h->arg = r;
}
