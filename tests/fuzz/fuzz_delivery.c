/*
 * fuzz_delivery: delivery_from_record (bridge/delivery.c), how the delay
 * scheduler and `dlq replay` read the delivery records of the delay and
 * dead-letter topics.  Input: the record's value bytes.  Property (round
 * trip): a record that parses, written back with delivery_to_record and
 * parsed again, gives the same delivery: ids, type, account, endpoint,
 * URL, the event's bytes, first and next attempt times, each attempt's
 * number, time, duration, status and error, the source, the deferrals and
 * replayedFrom.  The written record must also be what the first parse
 * read the second time over (delivery_to_record is stable).
 * The event's bytes taken from the record parse to the record's "event".
 * Differential: delivery_to_record and delivery_to_dead_letter write
 * (bridge/jsonw.c) exactly the bytes jansson's json_dumps gives for the
 * same fields (delivery_record_meta) with the event spliced in last; the
 * attempt record of the last attempt, with the input as its answer, holds
 * the same values as jansson's strings for them (text repaired as
 * utf8_json repairs it, an answer that is not UTF-8 in base64).
 */
#include "attempts.h"
#include "delivery.h"
#include "fuzz.h"
#include "utf8.h"

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_same(const struct delivery *a, const struct delivery *b)
{
    FUZZ_CHECK(strcmp(a->id, b->id) == 0);
    FUZZ_CHECK(same_str(a->event_id, b->event_id));
    FUZZ_CHECK(same_str(a->event_type, b->event_type));
    FUZZ_CHECK(same_str(a->account_id, b->account_id));
    FUZZ_CHECK(same_str(a->endpoint_id, b->endpoint_id));
    FUZZ_CHECK(same_str(a->url, b->url));
    FUZZ_CHECK(a->body->len == b->body->len);
    FUZZ_CHECK(memcmp(a->body->data, b->body->data, a->body->len) == 0);
    FUZZ_CHECK(a->first_attempt_ms == b->first_attempt_ms);
    FUZZ_CHECK(a->due_ms == b->due_ms);
    FUZZ_CHECK(a->n_attempts == b->n_attempts);
    for (size_t i = 0; i < a->n_attempts; i++) {
        const struct attempt *x = &a->attempts[i], *y = &b->attempts[i];
        FUZZ_CHECK(x->n == y->n);
        FUZZ_CHECK(x->at_ms == y->at_ms);
        FUZZ_CHECK(x->duration_ms == y->duration_ms);
        FUZZ_CHECK(x->status == y->status);
        FUZZ_CHECK(same_str(x->error, y->error));
    }
    FUZZ_CHECK(same_str(a->source_topic, b->source_topic));
    FUZZ_CHECK(a->source_partition == b->source_partition);
    FUZZ_CHECK(a->source_offset == b->source_offset);
    FUZZ_CHECK(a->deferrals == b->deferrals);
    FUZZ_CHECK(same_str(a->replayed_from, b->replayed_from));
}

/* jansson's text for the record (reason NULL) or the dead letter; *lenp
 * its length (the event may hold a NUL byte: jansson takes one right after
 * a number). */
static char *jansson_record(const struct delivery *dl, const char *reason, int64_t at_ms,
                            size_t *lenp)
{
    json_t *meta = delivery_record_meta(dl);
    if (meta == NULL) {
        return NULL;
    }
    if (reason != NULL) {
        char t[UTIL_TIME_LEN];
        util_format_time(at_ms, t, sizeof(t));
        FUZZ_CHECK(json_object_set_new(meta, "reason", json_string(reason)) == 0);
        FUZZ_CHECK(json_object_set_new(meta, "deadLetteredAt", json_string(t)) == 0);
    }
    char *head = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(meta);
    FUZZ_CHECK(head != NULL);
    static const char key[] = ",\"event\":";
    size_t hlen = strlen(head);
    char *out = malloc(hlen + sizeof(key) + dl->body->len + 1);
    FUZZ_CHECK(out != NULL);
    memcpy(out, head, hlen - 1);
    memcpy(out + hlen - 1, key, sizeof(key) - 1);
    memcpy(out + hlen - 1 + sizeof(key) - 1, dl->body->data, dl->body->len);
    memcpy(out + hlen - 1 + sizeof(key) - 1 + dl->body->len, "}", 2);
    *lenp = hlen - 1 + sizeof(key) - 1 + dl->body->len + 1;
    free(head);
    return out;
}

static void check_same_as_jansson(const struct delivery *dl, const char *ours, size_t len,
                                  const char *reason)
{
    size_t tlen = 0;
    char *theirs = jansson_record(dl, reason, 1796040000000, &tlen);
    FUZZ_CHECK((ours == NULL) == (theirs == NULL));
    FUZZ_CHECK(ours == NULL || (tlen == len && memcmp(ours, theirs, len) == 0));
    free(theirs);
}

static void check_string(json_t *rec, const char *key, const char *s)
{
    json_t *want = utf8_json_or_null(s, 4096);
    FUZZ_CHECK(json_equal(json_object_get(rec, key), want));
    json_decref(want);
}

/* The attempt record of dl's last attempt, answered with data. */
static void check_attempt_record(struct delivery *dl, const uint8_t *data, size_t size)
{
    struct attempt *a = &dl->attempts[dl->n_attempts - 1];
    delivery_set_response(a, (const char *)data, size);
    size_t len = 0;
    char *text = attempts_record(dl, &len);
    FUZZ_CHECK(text != NULL && strlen(text) <= len);
    json_t *rec = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    FUZZ_CHECK(json_is_object(rec));
    check_string(rec, "eventId", dl->event_id);
    check_string(rec, "eventType", dl->event_type);
    check_string(rec, "endpointUrl", dl->url);
    check_string(rec, "error", a->error);
    json_t *text_answer = json_stringn(a->response, a->response_len);
    if (text_answer != NULL) {
        FUZZ_CHECK(json_equal(json_object_get(rec, "response"), text_answer));
    } else {
        char *b64 = util_base64(a->response, a->response_len);
        FUZZ_CHECK(json_is_null(json_object_get(rec, "response")));
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(rec, "responseBase64")), b64) == 0);
        free(b64);
    }
    json_decref(text_answer);
    json_decref(rec);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[512] = "";
    size_t len = 0, len2 = 0;

    struct delivery *dl = delivery_from_record(data, size, errstr, sizeof(errstr));
    if (dl == NULL) {
        FUZZ_CHECK(errstr[0] != '\0');
        return 0;
    }
    /* The event's bytes, found by delivery.c's span scanner, are the
     * record's "event" value as jansson reads it. */
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    json_t *body = json_loadb(dl->body->data, dl->body->len, 0, NULL);
    FUZZ_CHECK(root != NULL && body != NULL && json_equal(body, json_object_get(root, "event")));
    json_decref(body);
    json_decref(root);
    char *record = delivery_to_record(dl, &len);
    FUZZ_CHECK(record != NULL);
    check_same_as_jansson(dl, record, len, NULL);
    size_t dlen = 0;
    char *dead = delivery_to_dead_letter(dl, "retry_window_expired", 1796040000000, &dlen);
    check_same_as_jansson(dl, dead, dlen, "retry_window_expired");
    free(dead);
    struct delivery *again = delivery_from_record(record, len, errstr, sizeof(errstr));
    FUZZ_CHECK(again != NULL);
    check_same(dl, again);
    char *record2 = delivery_to_record(again, &len2);
    FUZZ_CHECK(record2 != NULL && len2 == len && memcmp(record, record2, len) == 0);

    if (dl->n_attempts > 0) {
        check_attempt_record(dl, data, size);
    }
    free(record2);
    delivery_destroy(again);
    free(record);
    delivery_destroy(dl);
    return 0;
}
