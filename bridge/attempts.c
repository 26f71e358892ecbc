/*
 * attempts: one JSON record per attempt, built with jansson (the answer's
 * first bytes as text when they are UTF-8, else base64), produced without
 * blocking on a producer of its own (see attempts.h).  The text is written
 * by the worker that logs the attempt and freed by it once librdkafka has
 * copied it.
 */
#include "attempts.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "delivery.h"
#include "jsonw.h"
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

/* The longest text field an attempt record carries (cut on a character
 * boundary beyond). */
#define FIELD_MAX 4096

/* Written straight into one buffer (jsonw): building a jansson document
 * and dumping it was most of the cost of a record at tens of thousands per
 * second.  Text that comes from outside (the event's fields, the URL, the
 * error) is repaired rather than refused, so the record always builds. */
char *attempts_record(const struct delivery *dl, size_t *lenp)
{
    const struct attempt *a = delivery_last_attempt(dl);
    if (a == NULL) {
        return NULL;
    }
    struct jsonw w;
    jsonw_init(&w, 640 + (a->response != NULL ? a->response_len * 2 : 0));
    jsonw_object(&w);
    jsonw_key(&w, "version");
    jsonw_int(&w, 1);
    jsonw_key(&w, "deliveryId");
    jsonw_str(&w, dl->id);
    jsonw_key(&w, "eventId");
    jsonw_str_repaired(&w, dl->event_id, FIELD_MAX);
    jsonw_key(&w, "eventType");
    jsonw_str_repaired(&w, dl->event_type, FIELD_MAX);
    jsonw_key(&w, "accountId");
    jsonw_str_repaired(&w, dl->account_id, FIELD_MAX);
    jsonw_key(&w, "endpointId");
    jsonw_str_repaired(&w, dl->endpoint_id, FIELD_MAX);
    jsonw_key(&w, "endpointUrl");
    jsonw_str_repaired(&w, dl->url, FIELD_MAX);
    delivery_write_attempt(&w, a);
    jsonw_key(&w, "outcome");
    jsonw_str(&w, outcome_name(dl->outcome));
    jsonw_key(&w, "response");
    if (a->response != NULL && utf8_valid(a->response, a->response_len)) {
        jsonw_strn(&w, a->response, a->response_len);
    } else if (a->response != NULL) {
        char *b64 = util_base64(a->response, a->response_len);
        jsonw_null(&w);
        jsonw_key(&w, "responseBase64");
        jsonw_str(&w, b64);
        free(b64);
    } else {
        jsonw_null(&w);
    }
    jsonw_close(&w);
    return jsonw_finish(&w, lenp);
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
    /* Copied (F_COPY): librdkafka puts the value in the one allocation it
     * makes for the message anyway, next to the key, and the text is freed
     * here, on the worker that made it, rather than on librdkafka's thread
     * (a free into another thread's malloc arena takes its lock). */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        a->rk, RD_KAFKA_V_TOPIC(a->conf->kafka.attempts_topic),
        RD_KAFKA_V_KEY(dl->event_id, strlen(dl->event_id)), RD_KAFKA_V_VALUE(value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    free(value);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        dropped(a, rd_kafka_err2str(err)); /* the queue is full */
    }
}
