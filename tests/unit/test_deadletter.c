/*
 * test_deadletter: the dead-letter values can always be built and always
 * fit.  Issue 11's crash inputs (a 5-byte JSON string holding a backslash
 * and "é"; an eventId of 63 ASCII bytes then "é") go through event_parse
 * and into a dead letter that jansson must accept and read back; oversized
 * values fall back to the compact form (metadata, the first bytes, size and
 * SHA-256) within the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "deadletter.h"
#include "delivery.h"
#include "event.h"
#include "utf8.h"

#define T0 1795000000000LL
#define MAX (1000000 - 16 * 1024)

static const struct deadletter_source src = {"subscription-events", 3, 1234};

/* Parses a dead-letter value as the tools do (NUL bytes allowed). */
static json_t *parse(const char *value, size_t len)
{
    json_error_t jerr;
    json_t *rec = json_loadb(value, len, JSON_ALLOW_NUL, &jerr);
    if (rec == NULL) {
        fail_msg("dead letter is not JSON: %s: %.*s", jerr.text, (int)(len > 200 ? 200 : len),
                 value);
    }
    return rec;
}

static json_t *invalid_dead_letter(const void *raw, size_t len, size_t max, char *err,
                                   size_t err_size)
{
    struct event ev;
    assert_int_not_equal(event_parse(&ev, raw, len, 1 << 20, err, err_size), 0);
    assert_true(utf8_valid(err, strlen(err)));
    size_t vlen = 0;
    char *value = deadletter_raw_value(&src, "invalid_event", err, raw, len, T0, max, &vlen);
    assert_non_null(value);
    assert_true(vlen <= max);
    json_t *rec = parse(value, vlen);
    free(value);
    assert_string_equal(json_string_value(json_object_get(rec, "reason")), "invalid_event");
    assert_string_equal(json_string_value(json_object_get(rec, "error")), err);
    json_t *s = json_object_get(rec, "source");
    assert_string_equal(json_string_value(json_object_get(s, "topic")), "subscription-events");
    assert_int_equal(json_integer_value(json_object_get(s, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(s, "offset")), 1234);
    return rec;
}

static void test_issue_inputs(void **state)
{
    (void)state;
    char err[512];
    /* 22 5c c3 a9 22 */
    static const char five[] = "\"\\\xc3\xa9\"";
    json_t *rec = invalid_dead_letter(five, 5, MAX, err, sizeof(err));
    json_t *raw = json_object_get(rec, "raw");
    assert_int_equal(json_string_length(raw), 5);
    assert_memory_equal(json_string_value(raw), five, 5);
    json_decref(rec);

    /* eventId / accountId: 63 ASCII bytes then "é", cut by the error text */
    char id[70];
    memset(id, 'a', 63);
    memcpy(id + 63, "\xc3\xa9", 3);
    char ev[512];
    snprintf(ev, sizeof(ev),
             "{\"eventId\":\"%s\",\"eventType\":\"Subscribe\",\"eventDetails\":{\"accountId\":"
             "\"0b98ef2c-f739-45f1-81e3-b2def2bb868f\"}}",
             id);
    rec = invalid_dead_letter(ev, strlen(ev), MAX, err, sizeof(err));
    assert_non_null(strstr(err, "eventId"));
    json_decref(rec);
    snprintf(ev, sizeof(ev),
             "{\"eventId\":\"0f1d5918-052d-4915-89a7-8cc9c4d33492\",\"eventType\":\"Subscribe\","
             "\"eventDetails\":{\"accountId\":\"%s\"}}",
             id);
    rec = invalid_dead_letter(ev, strlen(ev), MAX, err, sizeof(err));
    assert_non_null(strstr(err, "accountId"));
    json_decref(rec);

    /* not UTF-8 at all: carried as base64 */
    static const char bin[] = "\xff\xfe\x00\x01{";
    rec = invalid_dead_letter(bin, 5, MAX, err, sizeof(err));
    assert_string_equal(json_string_value(json_object_get(rec, "rawBase64")), "//4AAXs=");
    json_decref(rec);

    /* a NUL byte inside valid UTF-8 is text, written as \u0000 */
    static const char nul[] = "{\"a\":1}\0tail";
    rec = invalid_dead_letter(nul, sizeof(nul) - 1, MAX, err, sizeof(err));
    assert_int_equal(json_string_length(json_object_get(rec, "raw")), sizeof(nul) - 1);
    json_decref(rec);
}

static void check_compact(json_t *rec, const unsigned char *raw, size_t len)
{
    assert_true(json_is_true(json_object_get(rec, "rawTruncated")));
    assert_int_equal(json_integer_value(json_object_get(rec, "rawSize")), len);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(raw, len, digest);
    for (size_t i = 0; i < sizeof(digest); i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    assert_string_equal(json_string_value(json_object_get(rec, "rawSha256")), hex);
    const char *b64 = json_string_value(json_object_get(rec, "rawBase64"));
    assert_non_null(b64);
    size_t blen = strlen(b64);
    assert_true(blen > 0 && blen % 4 == 0);
    unsigned char *head = malloc(blen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(head, (const unsigned char *)b64, (int)blen);
    assert_true(n > 0);
    while (n > 0 && b64[blen - 1] == '=') { /* EVP_DecodeBlock counts padding */
        n--;
        blen--;
    }
    assert_true((size_t)n <= len);
    assert_memory_equal(head, raw, (size_t)n);
    free(head);
    assert_null(json_object_get(rec, "raw"));
}

static void test_too_large_raw(void **state)
{
    (void)state;
    const size_t len = 3 * 1000 * 1000;
    unsigned char *raw = malloc(len);
    for (size_t i = 0; i < len; i++) {
        raw[i] = (unsigned char)(i * 7 + (i >> 9));
    }
    const size_t limits[] = {MAX, 100000, 2048};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        size_t vlen = 0;
        char *value = deadletter_raw_value(&src, "invalid_event", "record is too large", raw, len,
                                           T0, limits[i], &vlen);
        assert_true(vlen <= limits[i]);
        assert_true(vlen > limits[i] * 9 / 10); /* the room is used */
        json_t *rec = parse(value, vlen);
        check_compact(rec, raw, len);
        assert_string_equal(json_string_value(json_object_get(rec, "error")),
                            "record is too large");
        json_decref(rec);
        free(value);
    }
    free(raw);
}

/* A delivery's dead letter: full when it fits, compact with its metadata
 * when the event is too large for the limit. */
static void test_delivery_forms(void **state)
{
    (void)state;
    size_t blen = 200000;
    char *body = malloc(blen + 1);
    int off = snprintf(body, blen,
                       "{\"eventId\":\"0f1d5918-052d-4915-89a7-8cc9c4d33492\",\"eventType\":"
                       "\"Subscribe\",\"eventDetails\":{\"accountId\":"
                       "\"0b98ef2c-f739-45f1-81e3-b2def2bb868f\"},\"pad\":\"");
    memset(body + off, 'x', blen - (size_t)off - 2);
    memcpy(body + blen - 2, "\"}", 2);
    struct payload *p = payload_new(body, blen);
    struct delivery *dl =
        delivery_new("0f1d5918-052d-4915-89a7-8cc9c4d33492", "Subscribe",
                     "0b98ef2c-f739-45f1-81e3-b2def2bb868f", "ep-1", "https://example.com/h", p);
    payload_unref(p);
    delivery_set_source(dl, "subscription-events", 1, 77);
    dl->first_attempt_ms = T0;
    dl->due_ms = T0;
    /* an error text with bytes that are not UTF-8, from outside */
    (void)delivery_add_attempt(dl, T0, 12, 0, "weird server reply \xff\xc3");
    assert_true(utf8_valid(dl->attempts[0].error, strlen(dl->attempts[0].error)));

    size_t vlen;
    char *value = deadletter_delivery_value(dl, "retry_window_expired", "summary", T0, MAX, &vlen);
    json_t *rec = parse(value, vlen);
    assert_non_null(json_object_get(rec, "event"));
    assert_null(json_object_get(rec, "rawTruncated"));
    json_decref(rec);
    free(value);

    value = deadletter_delivery_value(dl, "retry_window_expired", "summary", T0, 50000, &vlen);
    assert_true(vlen <= 50000);
    rec = parse(value, vlen);
    assert_null(json_object_get(rec, "event"));
    check_compact(rec, (const unsigned char *)body, blen);
    assert_string_equal(json_string_value(json_object_get(rec, "deliveryId")), dl->id);
    assert_string_equal(json_string_value(json_object_get(rec, "reason")), "retry_window_expired");
    assert_int_equal(json_array_size(json_object_get(rec, "attempts")), 1);
    json_decref(rec);
    free(value);
    delivery_destroy(dl);
    free(body);
}

/* With no room for any byte of the value, the dead letter still says how
 * large it was and its hash. */
static void test_no_room_keeps_size(void **state)
{
    (void)state;
    char raw[5000];
    memset(raw, 0x01, sizeof(raw));
    char error[3000];
    memset(error, 'e', sizeof(error) - 1);
    error[sizeof(error) - 1] = '\0';
    size_t vlen = 0;
    char *value =
        deadletter_raw_value(&src, "invalid_event", error, raw, sizeof(raw), T0, 420, &vlen);
    assert_true(vlen <= 420);
    json_t *rec = parse(value, vlen);
    assert_int_equal(json_integer_value(json_object_get(rec, "rawSize")), sizeof(raw));
    assert_string_equal(json_string_value(json_object_get(rec, "rawBase64")), "");
    json_decref(rec);
    free(value);
}

/* A delivery record's endpointId becomes a Kafka key and a registry
 * lookup: one the endpoints topic would refuse is not a delivery record. */
static void test_record_endpoint_id_checked(void **state)
{
    (void)state;
    static const char *const ids[] = {"", "a b", "caf\\u00e9"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char rec[1024];
        snprintf(rec, sizeof(rec),
                 "{\"version\":1,\"deliveryId\":\"3f0c6c8e-0000-4000-8000-000000000001\","
                 "\"eventId\":\"e\",\"eventType\":\"Subscribe\",\"accountId\":\"a\","
                 "\"endpointId\":\"%s\",\"endpointUrl\":\"https://x.example/h\",\"attempts\":[],"
                 "\"source\":{},\"event\":{}}",
                 ids[i]);
        char err[256];
        assert_null(delivery_from_record(rec, strlen(rec), err, sizeof(err)));
        assert_non_null(strstr(err, "endpointId"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_inputs),
        cmocka_unit_test(test_too_large_raw),
        cmocka_unit_test(test_delivery_forms),
        cmocka_unit_test(test_no_room_keeps_size),
        cmocka_unit_test(test_record_endpoint_id_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
