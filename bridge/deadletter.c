/*
 * deadletter: record formats of the dead-letter topic, and their production.
 * The value builders are pure and cannot fail: a record whose full form
 * cannot be built (a text jansson refuses) or would be larger than the
 * producer takes falls back to a compact form that keeps its metadata and
 * the first bytes of the raw value, with the value's size and SHA-256
 * (docs/records.md, "Truncated dead letters").  Any thread.
 */
#include "deadletter.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "conf.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

#define ERROR_MAX 512 /* bytes of an error text kept in a dead letter */
#define REFUSED_LOG_MS 10000

/* The last error line about a held dead letter (mono ms), and how many
 * refusals were not said since: one line per REFUSED_LOG_MS at most. */
static _Atomic int64_t refused_logged_ms;
static atomic_long refused_unsaid;

/* What a dead letter's production reports back to its caller. */
struct produce_ctx {
    producer_done_cb *done;
    void *arg;
    char *topic; /* the source, for the error line */
    int32_t partition;
    int64_t offset;
    int held; /* refused at least once, held since */
};

/* A dead letter Kafka refuses for good has nowhere else to go: say so
 * loudly (error line, metric, /readyz) and hold it, produced again every
 * PRODUCER_HOLD_BACKOFF_MS until the topic takes it (an operator fixed the
 * ACL, the topic, its size limit).  The caller hears nothing meanwhile, so
 * the source offset stays unstored and the record counted in flight:
 * nothing is lost, and a restart in between consumes it again. */
static enum producer_verdict produced(void *arg, enum producer_status status, const char *error)
{
    struct produce_ctx *c = arg;
    if (status == PRODUCER_REFUSED || status == PRODUCER_TOO_LARGE) {
        int64_t now = util_mono_ms();
        if (!c->held) {
            c->held = 1;
            metrics_inc(M_dead_letters_refused);
        }
        int64_t last = atomic_load(&refused_logged_ms);
        if ((last == 0 || now - last >= REFUSED_LOG_MS) &&
            atomic_compare_exchange_strong(&refused_logged_ms, &last, now)) {
            log_json(LVL_ERROR,
                     "the dead-letter topic refused a record; holding it, its source offset "
                     "uncommitted, and producing it again every few seconds",
                     json_pack("{s:s, s:s?, s:i, s:I, s:i, s:I}", "error",
                               error != NULL ? error : "", "topic", c->topic, "partition",
                               (int)c->partition, "offset", (json_int_t)c->offset, "retryInMs",
                               PRODUCER_HOLD_BACKOFF_MS, "suppressed",
                               (json_int_t)atomic_exchange(&refused_unsaid, 0)));
        } else {
            atomic_fetch_add(&refused_unsaid, 1);
        }
        return PRODUCER_HOLD;
    }
    if (c->held && status == PRODUCER_DURABLE) {
        log_json(LVL_INFO, "the dead-letter topic took a held record",
                 json_pack("{s:s?, s:i, s:I}", "topic", c->topic, "partition", (int)c->partition,
                           "offset", (json_int_t)c->offset));
    }
    c->done(c->arg, status, error);
    free(c->topic);
    free(c);
    return PRODUCER_DONE;
}

static struct produce_ctx *ctx_new(producer_done_cb *done, void *arg,
                                   const struct deadletter_source *src)
{
    struct produce_ctx *c = xmalloc(sizeof(*c));
    c->done = done;
    c->arg = arg;
    c->topic = src->topic != NULL ? xstrdup(src->topic) : NULL;
    c->partition = src->partition;
    c->offset = src->offset;
    c->held = 0;
    return c;
}

static void count_reason(const char *reason)
{
    static const struct {
        const char *reason;
        enum metrics_counter counter;
    } reasons[] = {
        {"retry_window_expired", M_dead_window_expired},
        {"endpoint_gone", M_dead_gone},
        {"endpoint_removed", M_dead_removed},
        {"endpoint_disabled", M_dead_disabled},
        {"endpoint_changed", M_dead_changed},
        {"record_too_large", M_dead_too_large},
        {"park_refused", M_dead_park_refused},
        {"invalid_event", M_dead_invalid},
    };
    metrics_inc(M_dead_letters);
    for (size_t i = 0; i < WB_ARRAY_LEN(reasons); i++) {
        if (strcmp(reason, reasons[i].reason) == 0) {
            metrics_inc(reasons[i].counter);
            return;
        }
    }
}

/* The metadata every dead letter has, built only from texts utf8_json has
 * made valid: it cannot fail but on out-of-memory. */
static json_t *minimal_meta(const struct deadletter_source *src, const char *reason,
                            const char *error, int64_t now_ms)
{
    char now[UTIL_TIME_LEN];
    util_format_time(now_ms, now, sizeof(now));
    json_t *source = json_object();
    json_t *obj = json_object();
    if (source == NULL || obj == NULL ||
        json_object_set_new(source, "topic", utf8_json_or_null(src->topic, 512)) != 0 ||
        json_object_set_new(source, "partition", json_integer(src->partition)) != 0 ||
        json_object_set_new(source, "offset", json_integer((json_int_t)src->offset)) != 0 ||
        json_object_set_new(obj, "version", json_integer(1)) != 0 ||
        json_object_set_new(obj, "reason", utf8_json_or_null(reason, 64)) != 0 ||
        json_object_set_new(obj, "error", utf8_json_or_null(error, ERROR_MAX)) != 0 ||
        json_object_set_new(obj, "source", source) != 0 ||
        json_object_set_new(obj, "deadLetteredAt", json_string(now)) != 0) {
        abort(); /* jansson fails here only when out of memory */
    }
    return obj;
}

static char *dump(json_t *obj, size_t *lenp)
{
    char *out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (out != NULL) {
        *lenp = strlen(out);
    }
    return out;
}

/* obj (stolen) plus the raw value's first bytes in base64 (head_max at
 * most), its size and its SHA-256, within max bytes.  NULL when obj alone
 * does not fit. */
static char *compact(json_t *obj, const void *raw, size_t len, size_t head_max, size_t max,
                     size_t *lenp)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(raw != NULL ? raw : (const void *)"", len, digest);
    for (size_t i = 0; i < sizeof(digest); i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    char *out = NULL;
    if (json_object_set_new(obj, "rawTruncated", json_true()) != 0 ||
        json_object_set_new(obj, "rawSize", json_integer((json_int_t)len)) != 0 ||
        json_object_set_new(obj, "rawSha256", json_string(hex)) != 0 ||
        json_object_set_new(obj, "rawBase64", json_string("")) != 0) {
        goto out;
    }
    size_t base;
    char *probe = dump(obj, &base);
    free(probe);
    if (probe == NULL || base > max) {
        goto out;
    }
    size_t head = (max - base) / 4 * 3; /* base64: 4 characters per 3 bytes */
    if (head > len) {
        head = len;
    }
    if (head > head_max) {
        head = head_max;
    }
    char *b64 = util_base64(raw, head);
    int set = json_object_set_new(obj, "rawBase64", json_string(b64));
    free(b64);
    if (set == 0) {
        out = dump(obj, lenp);
    }
out:
    json_decref(obj);
    return out;
}

/* The compact form with whatever metadata fits: meta (stolen, may be NULL),
 * then the minimal metadata, then the minimal metadata and no raw bytes. */
static char *fallback(json_t *meta, const struct deadletter_source *src, const char *reason,
                      const char *error, const void *raw, size_t len, int64_t now_ms, size_t max,
                      size_t *lenp)
{
    char *out = NULL;
    if (meta != NULL) {
        out = compact(meta, raw, len, len, max, lenp);
    }
    if (out == NULL) {
        out = compact(minimal_meta(src, reason, error, now_ms), raw, len, len, max, lenp);
    }
    if (out == NULL) {
        /* No room for any byte of the value: its size and hash still. */
        out = compact(minimal_meta(src, reason, "(error text too long)", now_ms), raw, len, 0, max,
                      lenp);
    }
    if (out == NULL) {
        abort(); /* max is below a few hundred bytes: a configuration bug */
    }
    return out;
}

char *deadletter_raw_value(const struct deadletter_source *src, const char *reason,
                           const char *error, const void *raw, size_t len, int64_t now_ms,
                           size_t max, size_t *lenp)
{
    json_t *obj = minimal_meta(src, reason, error, now_ms);
    /* The raw bytes as text when they are UTF-8, else base64. */
    json_t *text = raw != NULL ? json_stringn(raw, len) : json_string("");
    if (text != NULL) {
        json_object_set_new(obj, "raw", text);
    } else {
        char *b64 = util_base64(raw, len);
        json_object_set_new(obj, "rawBase64", json_string(b64));
        free(b64);
    }
    char *out = dump(obj, lenp);
    json_decref(obj);
    if (out != NULL && *lenp <= max) {
        return out;
    }
    free(out);
    return fallback(NULL, src, reason, error, raw, len, now_ms, max, lenp);
}

char *deadletter_delivery_value(const struct delivery *dl, const char *reason, const char *error,
                                int64_t now_ms, size_t max, size_t *lenp)
{
    char *out = delivery_to_dead_letter(dl, reason, now_ms, lenp);
    if (out != NULL && *lenp <= max) {
        return out;
    }
    free(out);
    struct deadletter_source src = {dl->source_topic, dl->source_partition, dl->source_offset};
    json_t *meta = delivery_record_meta(dl);
    if (meta != NULL) {
        char now[UTIL_TIME_LEN];
        util_format_time(now_ms, now, sizeof(now));
        if (json_object_set_new(meta, "reason", json_string(reason)) != 0 ||
            json_object_set_new(meta, "deadLetteredAt", json_string(now)) != 0) {
            json_decref(meta);
            meta = NULL;
        }
    }
    return fallback(meta, &src, reason, error, dl->body->data, dl->body->len, now_ms, max, lenp);
}

void deadletter_delivery(struct producer *p, const struct conf *conf, const struct delivery *dl,
                         const char *reason, producer_done_cb *done, void *arg)
{
    char part[16], off[24], msg[ERROR_MAX];
    snprintf(part, sizeof(part), "%" PRId32, dl->source_partition);
    snprintf(off, sizeof(off), "%" PRId64, dl->source_offset);
    const struct attempt *last = delivery_last_attempt(dl);
    if (last == NULL) {
        util_errf(msg, sizeof(msg), "%s: no attempt", reason);
    } else if (last->status > 0) {
        util_errf(msg, sizeof(msg), "%s: %zu attempts, last status %d", reason,
                  delivery_attempt_count(dl), last->status);
    } else {
        util_errf(msg, sizeof(msg), "%s: %zu attempts, last error %s", reason,
                  delivery_attempt_count(dl), last->error != NULL ? last->error : "unknown");
    }
    size_t len;
    char *value =
        deadletter_delivery_value(dl, reason, msg, util_now_ms(), producer_value_max(p), &len);
    struct deadletter_source src = {dl->source_topic, dl->source_partition, dl->source_offset};
    count_reason(reason);
    log_json(LVL_INFO, "dead-lettered",
             json_pack("{s:s, s:s, s:s, s:s, s:i}", "reason", reason, "eventId", dl->event_id,
                       "endpointId", dl->endpoint_id, "deliveryId", dl->id, "attempts",
                       (int)delivery_attempt_count(dl)));
    producer_send(p, conf->kafka.dead_letter_topic, dl->endpoint_id, value, len, produced,
                  ctx_new(done, arg, &src), "__connect.errors.topic",
                  dl->source_topic != NULL ? dl->source_topic : "", "__connect.errors.partition",
                  part, "__connect.errors.offset", off, "__connect.errors.exception.message", msg,
                  "reason", reason, PRODUCER_END);
}

void deadletter_raw(struct producer *p, const struct conf *conf, const char *reason,
                    const struct deadletter_source *src, const void *key, size_t key_len,
                    const void *raw, size_t len, const char *error, producer_done_cb *done,
                    void *arg)
{
    size_t vlen;
    char *value = deadletter_raw_value(src, reason, error, raw, len, util_now_ms(),
                                       producer_value_max(p), &vlen);
    char part[16], off[24], msg[ERROR_MAX + 64];
    snprintf(part, sizeof(part), "%" PRId32, src->partition);
    snprintf(off, sizeof(off), "%" PRId64, src->offset);
    util_errf(msg, sizeof(msg), "%s: %s", reason, error);
    /* The record's key up to a NUL byte (the producer takes C strings); the
     * source coordinates in the value and headers find the original. */
    char *k = key != NULL ? xstrndup(key, strnlen(key, key_len)) : xstrdup("");
    count_reason(reason);
    log_json(LVL_WARN, "record dead-lettered",
             json_pack("{s:s, s:o, s:s, s:i, s:I}", "reason", reason, "error",
                       utf8_json_or_null(error, ERROR_MAX), "topic", src->topic, "partition",
                       (int)src->partition, "offset", (json_int_t)src->offset));
    producer_send(p, conf->kafka.dead_letter_topic, k, value, vlen, produced,
                  ctx_new(done, arg, src), "__connect.errors.topic", src->topic,
                  "__connect.errors.partition", part, "__connect.errors.offset", off,
                  "__connect.errors.exception.message", msg, "reason", reason, PRODUCER_END);
    free(k);
}
