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

static void entry_done(void *arg, int durable)
{
    struct offsets_entry *e = arg;
    if (durable) {
        offsets_release(e);
    } else {
        offsets_abandon(e);
    }
}

/* Re-parks a record unchanged (same topic, same due-at): its wait was capped
 * at the topic's interval. */
static void repark(struct retry *r, struct held *h)
{
    const rd_kafka_message_t *rkm = h->rkm;
    char due[24];
    snprintf(due, sizeof(due), "%lld", (long long)h->due_ms);
    char *key = rkm->key != NULL ? xstrndup(rkm->key, rkm->key_len) : xstrdup("");
    metrics_inc(M_deliveries_reparked);
    producer_send(r->pl->producer, rd_kafka_topic_name(rkm->rkt), key,
                  xstrndup(rkm->payload, rkm->len), rkm->len, entry_done, h->entry, "due-at", due,
                  PRODUCER_END);
    free(key);
}

/* A due record: attempt it again with the endpoint's current settings. */
static void retry_record(struct retry *r, rd_kafka_message_t *rkm, struct offsets_entry *e,
                         int64_t due_ms)
{
    struct pipeline *pl = r->pl;
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    char err[512];
    struct delivery *dl = delivery_from_record(rkm->payload, rkm->len, err, sizeof(err));
    if (dl == NULL) {
        metrics_inc(M_delay_records_invalid);
        deadletter_invalid(pl->producer, pl->conf, topic, rkm->partition, rkm->offset, rkm->key,
                           rkm->key_len, rkm->payload, rkm->len, err, entry_done, e);
        return;
    }
    dl->entry = e;
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
        /* Disabled: wait, without an attempt, until the window is over. */
        int64_t interval = schedule_interval(pl->conf, dl->n_attempts);
        int64_t next = (dl->due_ms > now ? dl->due_ms : now) + interval;
        if (next > dl->first_attempt_ms + pl->conf->retry.window_ms) {
            pipeline_dead_letter(pl, dl, "endpoint_disabled");
        } else {
            pipeline_park(pl, dl, next, interval);
        }
        return;
    }
    /* The endpoint as it is now: its current URL and secrets. */
    free(dl->url);
    dl->url = xstrdup(ep->url);
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
    int64_t wake = due;
    if (interval > 0 && appended > 0 && appended + interval < wake) {
        wake = appended + interval;
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
