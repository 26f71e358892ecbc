/*
 * attempts: one JSON record per attempt, built with jansson (the answer's
 * first bytes as text when they are UTF-8, else base64), produced without
 * blocking on a producer of its own (see attempts.h).
 */
#include "attempts.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "delivery.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

struct attempts {
    const struct conf *conf;
    rd_kafka_t *rk;
    _Atomic int64_t warned_ms; /* last drop warning (mono ms) */
    atomic_long suppressed;
};

/* Counts a dropped record; one warning per 10 s says how many. */
static void dropped(struct attempts *a, const char *why)
{
    metrics_inc(M_attempt_records_dropped);
    int64_t now = util_mono_ms();
    int64_t last = atomic_load(&a->warned_ms);
    if (now - last >= 10000 && atomic_compare_exchange_strong(&a->warned_ms, &last, now)) {
        log_json(LVL_WARN, "attempt records dropped (deliveries are not affected)",
                 json_pack("{s:s, s:s, s:I}", "topic", a->conf->kafka.attempts_topic, "error", why,
                           "suppressed", (json_int_t)atomic_exchange(&a->suppressed, 0)));
    } else {
        atomic_fetch_add(&a->suppressed, 1);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        dropped(opaque, rd_kafka_err2str(rkm->err));
    }
}

int attempts_start(struct attempts **ap, const struct conf *conf, const char *bootstrap,
                   char *errstr, size_t errstr_size)
{
    *ap = NULL;
    if (conf->kafka.attempts_topic[0] == '\0') {
        return 0;
    }
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-attempts", errstr, errstr_size);
    if (kconf == NULL) {
        return -1;
    }
    /* Volume over durability: the delivery records are the full history. */
    static const char *const props[][2] = {
        {"acks", "1"},
        {"linger.ms", "100"},
        {"queue.buffering.max.kbytes", "8192"},
        {"queue.buffering.max.messages", "40000"},
        {"delivery.report.only.error", "true"},
    };
    for (size_t i = 0; i < WB_ARRAY_LEN(props); i++) {
        if (kafka_conf_set(kconf, props[i][0], props[i][1], errstr, errstr_size) != 0) {
            rd_kafka_conf_destroy(kconf);
            return -1;
        }
    }
    struct attempts *a = xcalloc(1, sizeof(*a));
    a->conf = conf;
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_cb);
    rd_kafka_conf_set_opaque(kconf, a);
    a->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (a->rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        free(a);
        return -1;
    }
    *ap = a;
    return 0;
}

void attempts_poll(struct attempts *a)
{
    if (a != NULL) {
        rd_kafka_poll(a->rk, 0);
    }
}

void attempts_stop(struct attempts *a, int64_t deadline_ms)
{
    if (a == NULL) {
        return;
    }
    int64_t left = deadline_ms - util_mono_ms();
    if (rd_kafka_flush(a->rk, (int)(left > 0 ? left : 0)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_purge(a->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(a->rk, 100);
    }
    rd_kafka_destroy(a->rk);
    free(a);
}

static const char *outcome_name(enum delivery_outcome o)
{
    switch (o) {
    case OUTCOME_SUCCESS:
        return "delivered";
    case OUTCOME_GONE:
        return "gone";
    case OUTCOME_RETRY:
    case OUTCOME_NONE:
    case OUTCOME_DEFERRED:
    default:
        return "failed";
    }
}

/* A string value: the _nocheck variant where the value is known to be
 * ASCII (UUIDs, ids, times, names of our own), the checked one (invalid
 * bytes replaced, so the record always builds) for the rest. */
static json_t *str_nocheck(const char *s)
{
    return s != NULL ? json_string_nocheck(s) : json_null();
}

static json_t *str_checked(const char *s)
{
    return utf8_json_or_null(s, 4096);
}

char *attempts_record(const struct delivery *dl, size_t *lenp)
{
    const struct attempt *a = delivery_last_attempt(dl);
    if (a == NULL) {
        return NULL;
    }
    char at[UTIL_TIME_LEN];
    util_format_time(a->at_ms, at, sizeof(at));
    /* Built field by field with the _nocheck setters (the keys are ours):
     * json_pack parses its format and checks every key, which was most of
     * the cost of a record at tens of thousands per second. */
    json_t *obj = json_object();
    json_object_set_new_nocheck(obj, "version", json_integer(1));
    json_object_set_new_nocheck(obj, "deliveryId", str_nocheck(dl->id));
    json_object_set_new_nocheck(obj, "eventId", str_checked(dl->event_id));
    json_object_set_new_nocheck(obj, "eventType", str_checked(dl->event_type));
    json_object_set_new_nocheck(obj, "accountId", str_checked(dl->account_id));
    json_object_set_new_nocheck(obj, "endpointId", str_nocheck(dl->endpoint_id));
    json_object_set_new_nocheck(obj, "endpointUrl", str_checked(dl->url));
    json_object_set_new_nocheck(obj, "attempt", json_integer(a->n));
    json_object_set_new_nocheck(obj, "at", json_string_nocheck(at));
    json_object_set_new_nocheck(obj, "durationMs", json_integer((json_int_t)a->duration_ms));
    json_object_set_new_nocheck(obj, "status",
                                a->status > 0 ? json_integer(a->status) : json_null());
    json_object_set_new_nocheck(obj, "error", str_checked(a->error));
    json_object_set_new_nocheck(obj, "outcome", json_string_nocheck(outcome_name(dl->outcome)));
    json_t *text = a->response != NULL ? json_stringn(a->response, a->response_len) : NULL;
    if (text != NULL) {
        json_object_set_new_nocheck(obj, "response", text);
    } else if (a->response != NULL) {
        char *b64 = util_base64(a->response, a->response_len);
        json_object_set_new_nocheck(obj, "response", json_null());
        json_object_set_new_nocheck(obj, "responseBase64", json_string_nocheck(b64));
        free(b64);
    } else {
        json_object_set_new_nocheck(obj, "response", json_null());
    }
    char *out = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (out != NULL) {
        *lenp = strlen(out);
    }
    return out;
}

void attempts_log(struct attempts *a, const struct delivery *dl)
{
    if (a == NULL) {
        return;
    }
    size_t len = 0;
    char *value = attempts_record(dl, &len);
    if (value == NULL) {
        dropped(a, "the record could not be built");
        return;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        a->rk, RD_KAFKA_V_TOPIC(a->conf->kafka.attempts_topic),
        RD_KAFKA_V_KEY(dl->event_id, strlen(dl->event_id)), RD_KAFKA_V_VALUE(value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(value); /* not taken: the queue is full */
        dropped(a, rd_kafka_err2str(err));
    }
}
