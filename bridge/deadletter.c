/*
 * deadletter: record formats of the dead-letter topic.  Pure formatting plus
 * one producer_send; safe from any thread.
 */
#include "deadletter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"

static void count_reason(const char *reason)
{
    metrics_inc(M_dead_letters);
    if (strcmp(reason, "retry_window_expired") == 0) {
        metrics_inc(M_dead_window_expired);
    } else if (strcmp(reason, "endpoint_gone") == 0) {
        metrics_inc(M_dead_gone);
    } else if (strcmp(reason, "endpoint_removed") == 0) {
        metrics_inc(M_dead_removed);
    } else if (strcmp(reason, "endpoint_disabled") == 0) {
        metrics_inc(M_dead_disabled);
    }
}

void deadletter_delivery(struct producer *p, const struct conf *conf, const struct delivery *dl,
                         const char *reason, producer_done_cb *done, void *arg)
{
    size_t len;
    char *value = delivery_to_dead_letter(dl, reason, util_now_ms(), &len);
    char part[16], off[24], msg[300];
    snprintf(part, sizeof(part), "%" PRId32, dl->source_partition);
    snprintf(off, sizeof(off), "%" PRId64, dl->source_offset);
    const struct attempt *last = delivery_last_attempt(dl);
    if (last == NULL) {
        snprintf(msg, sizeof(msg), "%s: no attempt", reason);
    } else if (last->status > 0) {
        snprintf(msg, sizeof(msg), "%s: %zu attempts, last status %d", reason, dl->n_attempts,
                 last->status);
    } else {
        snprintf(msg, sizeof(msg), "%s: %zu attempts, last error %s", reason, dl->n_attempts,
                 last->error != NULL ? last->error : "unknown");
    }
    count_reason(reason);
    log_json(LVL_INFO, "dead-lettered",
             json_pack("{s:s, s:s, s:s, s:s, s:i}", "reason", reason, "eventId", dl->event_id,
                       "endpointId", dl->endpoint_id, "deliveryId", dl->id, "attempts",
                       (int)dl->n_attempts));
    producer_send(p, conf->kafka.dead_letter_topic, dl->endpoint_id, value, len, done, arg,
                  "__connect.errors.topic", dl->source_topic != NULL ? dl->source_topic : "",
                  "__connect.errors.partition", part, "__connect.errors.offset", off,
                  "__connect.errors.exception.message", msg, "reason", reason, PRODUCER_END);
}

void deadletter_invalid(struct producer *p, const struct conf *conf, const char *topic,
                        int32_t partition, int64_t offset, const void *key, size_t key_len,
                        const void *raw, size_t len, const char *error, producer_done_cb *done,
                        void *arg)
{
    char now[UTIL_TIME_LEN];
    util_format_time(util_now_ms(), now, sizeof(now));
    json_t *obj = json_pack("{s:i, s:s, s:s, s:{s:s, s:i, s:I}, s:s}", "version", 1, "reason",
                            "invalid_event", "error", error, "source", "topic", topic, "partition",
                            (int)partition, "offset", (json_int_t)offset, "deadLetteredAt", now);
    /* The raw bytes as text when they are UTF-8 (json_stringn checks), else base64. */
    json_t *text = raw != NULL ? json_stringn(raw, len) : json_string("");
    if (text != NULL) {
        json_object_set_new(obj, "raw", text);
    } else {
        char *b64 = util_base64(raw, len);
        json_object_set_new(obj, "rawBase64", json_string(b64));
        free(b64);
    }
    char *value = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    char part[16], off[24], msg[600];
    snprintf(part, sizeof(part), "%" PRId32, partition);
    snprintf(off, sizeof(off), "%" PRId64, offset);
    snprintf(msg, sizeof(msg), "invalid_event: %s", error);
    char *k = key != NULL ? xstrndup(key, key_len) : xstrdup("");
    metrics_inc(M_dead_letters);
    log_json(LVL_WARN, "invalid event dead-lettered",
             json_pack("{s:s, s:s, s:i, s:I}", "error", error, "topic", topic, "partition",
                       (int)partition, "offset", (json_int_t)offset));
    producer_send(p, conf->kafka.dead_letter_topic, k, value, strlen(value), done, arg,
                  "__connect.errors.topic", topic, "__connect.errors.partition", part,
                  "__connect.errors.offset", off, "__connect.errors.exception.message", msg,
                  "reason", "invalid_event", PRODUCER_END);
    free(k);
}
