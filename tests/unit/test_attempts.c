/*
 * test_attempts: the attempt record of docs/records.md as attempts_record
 * builds it: every field, the outcome names, the answer's first bytes as
 * text or, when they are not UTF-8, as base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attempts.h"
#include "delivery.h"
#include "utf8.h"
#include "util.h"

#define EVENT_ID "0f1d5918-052d-4915-89a7-8cc9c4d33492"
#define ACCOUNT_ID "0b98ef2c-f739-45f1-81e3-b2def2bb868f"
#define T0 1795341600000LL /* 2026-11-22T10:00:00.000Z */

static struct delivery *make(void)
{
    const char *body = "{\"eventId\":\"" EVENT_ID "\"}";
    struct payload *p = payload_new(body, strlen(body));
    struct delivery *dl =
        delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "crm", "https://hooks.example.com/r", p);
    payload_unref(p);
    return dl;
}

static json_t *record(const struct delivery *dl)
{
    size_t len = 0;
    char *text = attempts_record(dl, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    assert_non_null(root);
    free(text);
    return root;
}

static void test_fields(void **state)
{
    (void)state;
    struct delivery *dl = make();
    size_t len = 0;
    assert_null(attempts_record(dl, &len)); /* no attempt yet */
    (void)delivery_add_attempt(dl, T0, 31, 503, NULL);
    struct attempt *a = delivery_add_attempt(dl, T0 + 300000, 12, 503, NULL);
    delivery_set_response(a, "Service Unavailable", 19);
    dl->outcome = OUTCOME_RETRY;
    json_t *r = record(dl);
    assert_int_equal(json_integer_value(json_object_get(r, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "deliveryId")), dl->id);
    assert_string_equal(json_string_value(json_object_get(r, "eventId")), EVENT_ID);
    assert_string_equal(json_string_value(json_object_get(r, "eventType")), "Subscribe");
    assert_string_equal(json_string_value(json_object_get(r, "accountId")), ACCOUNT_ID);
    assert_string_equal(json_string_value(json_object_get(r, "endpointId")), "crm");
    assert_string_equal(json_string_value(json_object_get(r, "endpointUrl")),
                        "https://hooks.example.com/r");
    assert_int_equal(json_integer_value(json_object_get(r, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(r, "at")), "2026-11-22T10:05:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(r, "durationMs")), 12);
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 503);
    assert_true(json_is_null(json_object_get(r, "error")));
    assert_string_equal(json_string_value(json_object_get(r, "outcome")), "failed");
    assert_string_equal(json_string_value(json_object_get(r, "response")), "Service Unavailable");
    json_decref(r);
    delivery_destroy(dl);
}

static void test_outcomes_and_errors(void **state)
{
    (void)state;
    struct delivery *dl = make();
    (void)delivery_add_attempt(dl, T0, 10000, 0, "timeout: Operation timed out");
    dl->outcome = OUTCOME_RETRY;
    json_t *r = record(dl);
    assert_true(json_is_null(json_object_get(r, "status")));
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "timeout: Operation timed out");
    assert_true(json_is_null(json_object_get(r, "response")));
    json_decref(r);

    (void)delivery_add_attempt(dl, T0 + 1, 5, 204, NULL);
    dl->outcome = OUTCOME_SUCCESS;
    r = record(dl);
    assert_string_equal(json_string_value(json_object_get(r, "outcome")), "delivered");
    json_decref(r);

    (void)delivery_add_attempt(dl, T0 + 2, 5, 410, NULL);
    dl->outcome = OUTCOME_GONE;
    r = record(dl);
    assert_string_equal(json_string_value(json_object_get(r, "outcome")), "gone");
    json_decref(r);
    delivery_destroy(dl);
}

/* An answer that is not UTF-8 goes as base64; one with a NUL byte too. */
static void test_binary_response(void **state)
{
    (void)state;
    struct delivery *dl = make();
    struct attempt *a = delivery_add_attempt(dl, T0, 5, 500, NULL);
    delivery_set_response(a, "\xff\xfe\x00x", 4);
    dl->outcome = OUTCOME_RETRY;
    json_t *r = record(dl);
    assert_true(json_is_null(json_object_get(r, "response")));
    assert_string_equal(json_string_value(json_object_get(r, "responseBase64")), "//4AeA==");
    json_decref(r);

    /* Only the first ATTEMPT_RESPONSE_MAX bytes are kept. */
    char big[ATTEMPT_RESPONSE_MAX + 100];
    memset(big, 'a', sizeof(big));
    delivery_set_response(a, big, sizeof(big));
    r = record(dl);
    assert_int_equal(json_string_length(json_object_get(r, "response")), ATTEMPT_RESPONSE_MAX);
    json_decref(r);
    delivery_destroy(dl);
}

/* The record as jansson builds it (the builder before jsonw): the oracle
 * for the writer, compared as JSON values. */
static json_t *jansson_reference(const struct delivery *dl, const char *outcome)
{
    const struct attempt *a = delivery_last_attempt(dl);
    char at[UTIL_TIME_LEN];
    util_format_time(a->at_ms, at, sizeof(at));
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "deliveryId", json_string(dl->id));
    json_object_set_new(o, "eventId", utf8_json_or_null(dl->event_id, 4096));
    json_object_set_new(o, "eventType", utf8_json_or_null(dl->event_type, 4096));
    json_object_set_new(o, "accountId", utf8_json_or_null(dl->account_id, 4096));
    json_object_set_new(o, "endpointId", utf8_json_or_null(dl->endpoint_id, 4096));
    json_object_set_new(o, "endpointUrl", utf8_json_or_null(dl->url, 4096));
    json_object_set_new(o, "attempt", json_integer(a->n));
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "durationMs", json_integer(a->duration_ms));
    json_object_set_new(o, "status", a->status > 0 ? json_integer(a->status) : json_null());
    json_object_set_new(o, "error", utf8_json_or_null(a->error, 4096));
    json_object_set_new(o, "outcome", json_string(outcome));
    json_t *text = a->response != NULL ? json_stringn(a->response, a->response_len) : NULL;
    if (text == NULL && a->response != NULL) {
        char *b64 = util_base64(a->response, a->response_len);
        json_object_set_new(o, "responseBase64", json_string(b64));
        free(b64);
    }
    json_object_set_new(o, "response", text != NULL ? text : json_null());
    return o;
}

/* Outside text with every escape, invalid bytes (repaired), and answers
 * that are text with a NUL byte, binary, or absent: the same values as
 * jansson's. */
static void test_same_as_jansson(void **state)
{
    (void)state;
    struct delivery *dl = make();
    dl->event_type = "Sub\"\\\b\f\n\r\t\x01\x7f/\xc3\xa9\xff"; /* not owned: never freed */
    delivery_set_url(dl, "https://hooks.example.com/\xe2\x82 \xf0\x9f\x98\x80");
    struct attempt *a = delivery_add_attempt(dl, T0, 7, 0, "reset \xc0\x80 by peer");
    delivery_set_response(a, "ok\0\xc3\xa9\"", 6);
    dl->outcome = OUTCOME_RETRY;
    static const char *const bodies[] = {"ok\0\xc3\xa9\"", "\xff\xfe\x00x", NULL};
    static const size_t lens[] = {6, 4, 0};
    for (size_t i = 0; i < 3; i++) {
        if (bodies[i] != NULL) {
            delivery_set_response(a, bodies[i], lens[i]);
        } else {
            free(a->response);
            a->response = NULL;
            a->response_len = 0;
        }
        json_t *ours = record(dl);
        json_t *theirs = jansson_reference(dl, "failed");
        if (!json_equal(ours, theirs)) {
            char *x = json_dumps(ours, JSON_COMPACT), *y = json_dumps(theirs, JSON_COMPACT);
            print_error("ours:   %s\ntheirs: %s\n", x, y);
            free(x);
            free(y);
            fail();
        }
        json_decref(ours);
        json_decref(theirs);
    }
    delivery_destroy(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_outcomes_and_errors),
        cmocka_unit_test(test_binary_response),
        cmocka_unit_test(test_same_as_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
