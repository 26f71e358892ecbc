/*
 * attempts: one JSON record per attempt, built with jansson (the answer's
 * first bytes as text when they are UTF-8, else base64) and handed to the
 * producer's lossy path.
 */
#include "attempts.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "delivery.h"
#include "producer.h"

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

char *attempts_record(const struct delivery *dl, size_t *lenp)
{
    const struct attempt *a = delivery_last_attempt(dl);
    if (a == NULL) {
        return NULL;
    }
    char at[UTIL_TIME_LEN];
    util_format_time(a->at_ms, at, sizeof(at));
    json_t *obj =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:o, s:o, s:s}", "version", 1,
                  "deliveryId", dl->id, "eventId", dl->event_id, "eventType", dl->event_type,
                  "accountId", dl->account_id, "endpointId", dl->endpoint_id, "endpointUrl",
                  dl->url, "attempt", a->n, "at", at, "durationMs", (json_int_t)a->duration_ms,
                  "status", a->status > 0 ? json_integer(a->status) : json_null(), "error",
                  a->error != NULL ? json_string(a->error) : json_null(), "outcome",
                  outcome_name(dl->outcome));
    if (obj == NULL) {
        return NULL; /* only if a field is not UTF-8, which the checks rule out */
    }
    json_t *text = a->response != NULL ? json_stringn(a->response, a->response_len) : NULL;
    if (text != NULL) {
        json_object_set_new(obj, "response", text);
    } else if (a->response != NULL) {
        char *b64 = util_base64(a->response, a->response_len);
        json_object_set_new(obj, "response", json_null());
        json_object_set_new(obj, "responseBase64", json_string(b64));
        free(b64);
    } else {
        json_object_set_new(obj, "response", json_null());
    }
    char *out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (out != NULL) {
        *lenp = strlen(out);
    }
    return out;
}

void attempts_log(struct producer *p, const struct conf *conf, const struct delivery *dl)
{
    if (conf->kafka.attempts_topic[0] == '\0') {
        return;
    }
    size_t len = 0;
    char *value = attempts_record(dl, &len);
    if (value == NULL) {
        return;
    }
    (void)producer_send_lossy(p, conf->kafka.attempts_topic, dl->event_id, strlen(dl->event_id),
                              value, len);
}
