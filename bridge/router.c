/*
 * router: record -> deliveries.  Consumer thread only; deliveries leave it
 * through pipeline_dispatch.  An event's deliveries are one allocation
 * (delivery_new_event) whose home is pl->home: they come back there when
 * the last of them ends, on whatever thread, and are freed here, on the
 * thread that allocated them, at the consumer's next loop turn (on_tick).
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "deadletter.h"
#include "delivery.h"
#include "endpoint.h"
#include "event.h"
#include "metrics.h"
#include "offsets.h"
#include "pipeline.h"
#include "registry.h"

/* Most events match few endpoints; more are handled in a second pass. */
#define ROUTE_STACK 64

static void on_message(struct consumer *c, rd_kafka_message_t *rkm, void *arg)
{
    struct pipeline *pl = arg;
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    char err[512];
    struct event ev;

    metrics_inc(M_events_consumed);
    if (event_parse(&ev, rkm->payload, rkm->len, (size_t)pl->conf->delivery.max_event_bytes, err,
                    sizeof(err)) != 0) {
        metrics_inc(M_events_invalid);
        struct offsets_entry *e =
            offsets_track(consumer_offsets(c), topic, rkm->partition, rkm->offset, 1);
        struct deadletter_source src = {topic, rkm->partition, rkm->offset};
        deadletter_raw(pl->producer, pl->conf, "invalid_event", &src, rkm->key, rkm->key_len,
                       rkm->payload, rkm->len, err, pipeline_send_done, pipeline_send_begin(pl, e));
        rd_kafka_message_destroy(rkm);
        return;
    }

    struct endpoint *stack[ROUTE_STACK];
    struct endpoint **eps = stack;
    size_t cap = ROUTE_STACK;
    size_t n = registry_match(pl->registry, ev.account_id, ev.type, eps, cap);
    while (n > cap) {
        /* More than fit: drop those references and ask again with room for
         * all (the registry may have changed in between: loop). */
        for (size_t i = 0; i < cap; i++) {
            endpoint_unref(eps[i]);
        }
        cap = n;
        eps = eps == stack ? xmalloc(cap * sizeof(*eps)) : xrealloc(eps, cap * sizeof(*eps));
        n = registry_match(pl->registry, ev.account_id, ev.type, eps, cap);
    }
    struct offsets_entry *e =
        offsets_track(consumer_offsets(c), topic, rkm->partition, rkm->offset, (int)n);
    if (n == 0) {
        metrics_inc(M_events_unrouted);
    }
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
    int64_t now = util_now_ms();
    struct delivery_event de = {ev.id,          ev.type,     ev.account_id, topic,
                                rkm->partition, rkm->offset, rkm->payload,  rkm->len};
    /* The references registry_match took go to the deliveries. */
    struct delivery *dl = delivery_new_event(&de, eps, n, &pl->home);
    while (dl != NULL) {
        struct delivery *next = dl->next;
        dl->next = NULL;
        dl->first_attempt_ms = now;
        dl->due_ms = now;
        dl->record_ts_ms = ts;
        dl->entry = e;
        metrics_inc(M_deliveries_created);
        pipeline_dispatch(pl, dl);
        dl = next;
    }
    if (eps != stack) {
        free(eps);
    }
    rd_kafka_message_destroy(rkm);
}

/* Each loop turn: frees the events whose deliveries have all ended. */
static int64_t on_tick(struct consumer *c, void *arg)
{
    (void)c;
    struct pipeline *pl = arg;
    payload_home_drain(&pl->home);
    return -1;
}

void router_handler(struct consumer_handler *h, struct pipeline *pl)
{
    memset(h, 0, sizeof(*h));
    h->on_message = on_message;
    h->on_tick = on_tick;
    h->arg = pl;
}
