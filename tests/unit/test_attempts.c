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
    json_t *root = json_loads(text, 0, NULL);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_outcomes_and_errors),
        cmocka_unit_test(test_binary_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
