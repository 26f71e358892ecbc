/*
 * Unit tests for delivery.c: the delay-topic and dead-letter record forms
 * of DESIGN section 3 (round trip of every field, the event embedded byte
 * for byte), refusal of malformed records with a reason, attempts, and the
 * shared reference-counted payload (meant to run under valgrind too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "endpoint.h"

#define EVENT_ID "0f1d5918-052d-4915-89a7-8cc9c4d33492"
#define ACCOUNT_ID "0b98ef2c-f739-45f1-81e3-b2def2bb868f"
#define URL "https://hooks.example.com/webhook?x=1&y=%20"
#define T0 1795000000123LL /* 2026-11-18T11:06:40.123Z */
#define MIN 60000LL

/* The seed 002 shape, pretty-printed as the documentation shows it, with
 * escapes, non-ASCII text and a real number: bytes that a re-serialisation
 * would change. */
static const char seed_body[] = "{\n"
                                "  \"eventId\": \"" EVENT_ID "\",\n"
                                "  \"eventType\": \"Subscribe\",\n"
                                "  \"eventDetails\": {\n"
                                "    \"actionType\": \"SubscriptionViaCalendarPage\",\n"
                                "    \"accountId\": \"" ACCOUNT_ID "\",\n"
                                "    \"accountName\": \"Caf\\u00e9 \\\"Quoted\\\" \xe2\x82\xac\",\n"
                                "    \"score\": 0.1,\n"
                                "    \"big\": 1e2,\n"
                                "    \"referer\": \"http:\\/\\/google.com\\/\",\n"
                                "    \"tags\": [ ],\n"
                                "    \"additionalOptIn\": false\n"
                                "  }\n"
                                "}";

/* The same event in jansson's compact form (what a re-serialisation gives
 * for bodies without escapes or reals). */
static const char compact_body[] =
    "{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Unsubscribe\","
    "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\",\"n\":[1,2,{\"k\":null}],\"b\":true}}";

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL) {                                                     \
            print_error("\"%s\" does not contain \"%s\"\n", (hay), (needle));                      \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static struct delivery *full_delivery(const char *body, const char *type)
{
    struct payload *p = payload_new(body, strlen(body));
    struct delivery *dl = delivery_new(EVENT_ID, type, ACCOUNT_ID, "ep-1:a_b.c", URL, p);
    payload_unref(p);
    delivery_set_source(dl, "subscription-events", 3, 1234);
    dl->first_attempt_ms = T0;
    dl->due_ms = T0 + 15 * MIN + 456;
    (void)delivery_add_attempt(dl, T0, 31, 503, NULL);
    (void)delivery_add_attempt(dl, T0 + 5 * MIN + 1, 10000, 0, "timeout");
    (void)delivery_add_attempt(dl, T0 + 10 * MIN + 999, 7, 429, NULL);
    return dl;
}

static json_t *load(const char *rec, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(rec, len, 0, &jerr);
    if (root == NULL) {
        print_error("record is not JSON (%s): %.*s\n", jerr.text, (int)len, rec);
        fail();
    }
    return root;
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        print_error("\"%s\" is not a string\n", key);
        fail();
    }
    return json_string_value(v);
}

/* Checks the record's fields against dl and the original body. */
static void check_record_json(json_t *root, const struct delivery *dl, const char *body)
{
    assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
    assert_true(json_is_integer(json_object_get(root, "version")));
    assert_string_equal(str_at(root, "deliveryId"), dl->id);
    assert_string_equal(str_at(root, "eventId"), EVENT_ID);
    assert_string_equal(str_at(root, "eventType"), dl->event_type);
    assert_string_equal(str_at(root, "accountId"), ACCOUNT_ID);
    assert_string_equal(str_at(root, "endpointId"), "ep-1:a_b.c");
    assert_string_equal(str_at(root, "endpointUrl"), URL);
    assert_string_equal(str_at(root, "firstAttemptAt"), "2026-11-18T11:06:40.123Z");
    assert_string_equal(str_at(root, "nextAttemptAt"), "2026-11-18T11:21:40.579Z");

    json_t *attempts = json_object_get(root, "attempts");
    assert_true(json_is_array(attempts));
    assert_int_equal(json_array_size(attempts), 3);
    json_t *a = json_array_get(attempts, 0);
    assert_int_equal(json_integer_value(json_object_get(a, "attempt")), 1);
    assert_string_equal(str_at(a, "at"), "2026-11-18T11:06:40.123Z");
    assert_int_equal(json_integer_value(json_object_get(a, "durationMs")), 31);
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 503);
    assert_true(json_is_null(json_object_get(a, "error")));
    a = json_array_get(attempts, 1);
    assert_int_equal(json_integer_value(json_object_get(a, "attempt")), 2);
    assert_string_equal(str_at(a, "at"), "2026-11-18T11:11:40.124Z");
    assert_int_equal(json_integer_value(json_object_get(a, "durationMs")), 10000);
    assert_true(json_is_null(json_object_get(a, "status"))); /* no answer */
    assert_string_equal(str_at(a, "error"), "timeout");
    a = json_array_get(attempts, 2);
    assert_int_equal(json_integer_value(json_object_get(a, "attempt")), 3);
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 429);

    json_t *source = json_object_get(root, "source");
    assert_true(json_is_object(source));
    assert_string_equal(str_at(source, "topic"), "subscription-events");
    assert_int_equal(json_integer_value(json_object_get(source, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(source, "offset")), 1234);

    /* The event is the original object. */
    json_error_t jerr;
    json_t *orig = json_loads(body, 0, &jerr);
    assert_non_null(orig);
    json_t *event = json_object_get(root, "event");
    assert_true(json_is_object(event));
    assert_true(json_equal(event, orig));
    json_decref(orig);
}

/* The raw body bytes appear verbatim, as the value of "event". */
static void check_body_verbatim(const char *rec, size_t len, const char *body)
{
    size_t blen = strlen(body);
    const char *at = memmem(rec, len, body, blen);
    if (at == NULL) {
        print_error("body not found verbatim in record: %.*s\n", (int)len, rec);
        fail();
    }
    static const char key[] = "\"event\":";
    assert_true((size_t)(at - rec) >= sizeof(key) - 1);
    assert_memory_equal(at - (sizeof(key) - 1), key, sizeof(key) - 1);
}

static void check_same_delivery(const struct delivery *a, const struct delivery *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->event_id, b->event_id);
    assert_string_equal(a->event_type, b->event_type);
    assert_string_equal(a->account_id, b->account_id);
    assert_string_equal(a->endpoint_id, b->endpoint_id);
    assert_string_equal(a->url, b->url);
    assert_int_equal(a->first_attempt_ms, b->first_attempt_ms);
    assert_int_equal(a->due_ms, b->due_ms);
    assert_int_equal(a->n_attempts, b->n_attempts);
    for (size_t i = 0; i < a->n_attempts; i++) {
        assert_int_equal(a->attempts[i].n, b->attempts[i].n);
        assert_int_equal(a->attempts[i].at_ms, b->attempts[i].at_ms);
        assert_int_equal(a->attempts[i].duration_ms, b->attempts[i].duration_ms);
        assert_int_equal(a->attempts[i].status, b->attempts[i].status);
        if (a->attempts[i].error == NULL) {
            assert_null(b->attempts[i].error);
        } else {
            assert_non_null(b->attempts[i].error);
            assert_string_equal(a->attempts[i].error, b->attempts[i].error);
        }
    }
    assert_non_null(b->source_topic);
    assert_string_equal(a->source_topic, b->source_topic);
    assert_int_equal(a->source_partition, b->source_partition);
    assert_int_equal(a->source_offset, b->source_offset);
    assert_non_null(b->body);
    /* The body is the same event (byte identity: see test_round_trip_body_bytes). */
    json_t *ja = json_loadb(a->body->data, a->body->len, 0, NULL);
    json_t *jb = json_loadb(b->body->data, b->body->len, 0, NULL);
    assert_non_null(ja);
    assert_non_null(jb);
    assert_true(json_equal(ja, jb));
    json_decref(ja);
    json_decref(jb);
    assert_int_equal(b->body->data[b->body->len], '\0');
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    struct delivery *dl = full_delivery(seed_body, "Subscribe");
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    assert_non_null(rec);
    assert_int_equal(len, strlen(rec));

    json_t *root = load(rec, len);
    check_record_json(root, dl, seed_body);
    assert_null(json_object_get(root, "reason")); /* only dead letters have one */
    assert_null(json_object_get(root, "deadLetteredAt"));
    json_decref(root);
    check_body_verbatim(rec, len, seed_body);

    char err[256] = "";
    struct delivery *back = delivery_from_record(rec, len, err, sizeof(err));
    if (back == NULL) {
        print_error("from_record: %s\n", err);
    }
    assert_non_null(back);
    check_same_delivery(dl, back);
    assert_null(back->entry);
    assert_int_equal(back->outcome, OUTCOME_NONE);

    /* A second generation is the same delivery again. */
    size_t len2 = 0;
    char *rec2 = delivery_to_record(back, &len2);
    struct delivery *back2 = delivery_from_record(rec2, len2, err, sizeof(err));
    assert_non_null(back2);
    check_same_delivery(dl, back2);

    free(rec2);
    delivery_destroy(back2);
    delivery_destroy(back);
    free(rec);
    delivery_destroy(dl);
}

/* A compact body survives the trip byte for byte, attempts get appended to
 * the parsed copy, and the record is not NUL-dependent. */
static void test_round_trip_compact_and_append(void **state)
{
    (void)state;
    struct delivery *dl = full_delivery(compact_body, "Unsubscribe");
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    check_body_verbatim(rec, len, compact_body);

    /* Parse from a buffer with no NUL after the record. */
    char *copy = malloc(len + 8);
    assert_non_null(copy);
    memcpy(copy, rec, len);
    memcpy(copy + len, "}}]]xx\xff", 8);
    char err[256] = "";
    struct delivery *back = delivery_from_record(copy, len, err, sizeof(err));
    if (back == NULL) {
        print_error("from_record: %s\n", err);
    }
    assert_non_null(back);
    check_same_delivery(dl, back);
    assert_int_equal(back->body->len, strlen(compact_body));
    assert_memory_equal(back->body->data, compact_body, strlen(compact_body));

    /* The next attempt is numbered after the ones read back. */
    const struct attempt *a = delivery_add_attempt(back, T0 + 15 * MIN, 12, 500, NULL);
    assert_int_equal(a->n, 4);
    assert_ptr_equal(delivery_last_attempt(back), a);
    size_t len2 = 0;
    char *rec2 = delivery_to_record(back, &len2);
    json_t *root = load(rec2, len2);
    assert_int_equal(json_array_size(json_object_get(root, "attempts")), 4);
    json_decref(root);

    free(rec2);
    delivery_destroy(back);
    free(copy);
    free(rec);
    delivery_destroy(dl);
}

/*
 * A retry POSTs the very bytes of the first attempt: the body read back
 * from a delay record is the original Event byte for byte, whatever its
 * whitespace, escapes ("\u00e9", "\/") and number forms (0.1, 1e2), not a
 * re-serialisation (DESIGN sections 3 and 4).
 */
static void test_round_trip_body_bytes(void **state)
{
    (void)state;
    struct delivery *dl = full_delivery(seed_body, "Subscribe");
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    char err[256] = "";
    struct delivery *back = delivery_from_record(rec, len, err, sizeof(err));
    assert_non_null(back);
    int same = back->body->len == strlen(seed_body) &&
               memcmp(back->body->data, seed_body, strlen(seed_body)) == 0;
    if (!same) {
        print_error("body after the round trip:\n%s\noriginal:\n%s\n", back->body->data, seed_body);
    }
    free(rec);
    delivery_destroy(back);
    delivery_destroy(dl);
    assert_true(same);
}

/*
 * A delivery with no source (source_topic NULL: one not made by the
 * router) is written with "source": {"topic": null, ...} and read back:
 * delivery_from_record accepts every record delivery_to_record writes.
 */
static void test_round_trip_minimal(void **state)
{
    (void)state;
    struct payload *p = payload_new(compact_body, strlen(compact_body));
    struct delivery *dl = delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "ep", URL, p);
    payload_unref(p);
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    json_t *root = load(rec, len);
    /* Not attempted yet: no times, no attempts. */
    assert_true(json_is_null(json_object_get(root, "firstAttemptAt")));
    assert_true(json_is_null(json_object_get(root, "nextAttemptAt")));
    assert_int_equal(json_array_size(json_object_get(root, "attempts")), 0);
    json_decref(root);

    char err[256] = "";
    struct delivery *back = delivery_from_record(rec, len, err, sizeof(err));
    free(rec);
    if (back == NULL) {
        print_error("from_record refused its own record: %s\n", err);
        delivery_destroy(dl);
        fail();
    }
    assert_string_equal(back->id, dl->id);
    assert_int_equal(back->first_attempt_ms, 0);
    assert_int_equal(back->due_ms, 0);
    assert_int_equal(back->n_attempts, 0);
    assert_null(back->source_topic);
    delivery_destroy(back);
    delivery_destroy(dl);
}

/* ---- dead letters -------------------------------------------------------- */

static void test_dead_letter(void **state)
{
    (void)state;
    struct delivery *dl = full_delivery(seed_body, "Subscribe");
    static const char *reasons[] = {"retry_window_expired", "endpoint_gone", "endpoint_removed",
                                    "endpoint_disabled"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        size_t len = 0;
        char *rec = delivery_to_dead_letter(dl, reasons[i], T0 + 30 * MIN + 7, &len);
        assert_non_null(rec);
        assert_int_equal(len, strlen(rec));
        json_t *root = load(rec, len);
        check_record_json(root, dl, seed_body);
        assert_string_equal(str_at(root, "reason"), reasons[i]);
        assert_string_equal(str_at(root, "deadLetteredAt"), "2026-11-18T11:36:40.130Z");
        json_decref(root);
        check_body_verbatim(rec, len, seed_body);

        /* A dead letter can be read back (replays from the dead-letter topic). */
        char err[256] = "";
        struct delivery *back = delivery_from_record(rec, len, err, sizeof(err));
        if (back == NULL) {
            print_error("from_record(dead letter): %s\n", err);
        }
        assert_non_null(back);
        check_same_delivery(dl, back);
        delivery_destroy(back);
        free(rec);
    }
    delivery_destroy(dl);
}

/* ---- malformed records --------------------------------------------------- */

/* Expects from_record to refuse text, with a message containing needle. */
static void expect_refused(const char *text, size_t len, const char *needle)
{
    char err[512];
    memset(err, 0, sizeof(err));
    struct delivery *dl = delivery_from_record(text, len, err, sizeof(err));
    if (dl != NULL) {
        print_error("accepted: %.*s\n", (int)len, text);
        delivery_destroy(dl);
        fail();
    }
    assert_true(strlen(err) > 0);
    if (needle != NULL) {
        if (strstr(err, needle) == NULL) {
            print_error("for: %.*s\n", (int)(len > 300 ? 300 : len), text);
        }
        assert_contains(err, needle);
    }
}

/* A valid record as a jansson object, for mutation. */
static json_t *valid_record(void)
{
    struct delivery *dl = full_delivery(compact_body, "Subscribe");
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    json_t *root = load(rec, len);
    free(rec);
    delivery_destroy(dl);
    return root;
}

static void expect_refused_json(json_t *root, const char *needle)
{
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(text);
    expect_refused(text, strlen(text), needle);
    free(text);
    json_decref(root);
}

static void test_refuses_not_json(void **state)
{
    (void)state;
    expect_refused("", 0, NULL);
    expect_refused("not json", 8, "not valid JSON");
    expect_refused("{\"version\":1,", 13, "not valid JSON");
    expect_refused("[1,2]", 5, NULL);
    expect_refused("\"x\"", 3, NULL);
    expect_refused("{\"version\":1,\"x\":\"\xff\"}", 22, "not valid JSON");

    /* Every proper prefix of a valid record is refused. */
    json_t *root = valid_record();
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t len = strlen(text);
    for (size_t n = 0; n < len; n++) {
        char *buf = malloc(n + 1);
        assert_non_null(buf);
        memcpy(buf, text, n);
        expect_refused(buf, n, NULL);
        free(buf);
    }
    free(text);
}

/* Type mismatches found by json_unpack come with jansson's text ("Expected
 * integer, got string"), which does not name the member: only refusal and a
 * non-empty reason are required for those. */
static void test_refuses_wrong_version(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *needle;
    } cases[] = {
        {"2", "version 2 is not supported"},
        {"0", "version 0 is not supported"},
        {"-1", "version"},
        {"\"1\"", NULL},
        {"1.0", NULL},
        {"null", NULL},
        {"true", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *root = valid_record();
        json_object_set_new(root, "version", json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
        expect_refused_json(root, cases[i].needle);
    }
}

static void test_refuses_missing_fields(void **state)
{
    (void)state;
    static const char *fields[] = {"version",   "deliveryId", "eventId",        "eventType",
                                   "accountId", "endpointId", "endpointUrl",    "event",
                                   "attempts",  "source",     "firstAttemptAt", "nextAttemptAt"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *root = valid_record();
        assert_int_equal(json_object_del(root, fields[i]), 0);
        expect_refused_json(root, fields[i]);
    }
}

static void test_refuses_ill_typed_fields(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        const char *value;
        const char *needle;
    } cases[] = {
        {"deliveryId", "\"not-a-uuid\"", "deliveryId"},
        {"deliveryId", "\"0f1d5918-052d-4915-89a7-8cc9c4d3349\"", "deliveryId"},
        {"deliveryId", "7", NULL},
        {"eventId", "null", NULL},
        {"eventType", "[\"Subscribe\"]", NULL},
        {"endpointUrl", "{}", NULL},
        {"event", "[]", "event"},
        {"event", "\"{}\"", "event"},
        {"attempts", "{}", "attempts"},
        {"source", "[]", "source"},
        {"source", "{\"topic\":5}", "source"},
        {"source", "{\"topic\":\"t\",\"partition\":\"3\"}", "source"},
        {"source", "{\"topic\":\"t\",\"partition\":1,\"offset\":\"9\"}", "source"},
        {"firstAttemptAt", "\"yesterday\"", "firstAttemptAt"},
        {"firstAttemptAt", "1795000000123", "firstAttemptAt"},
        {"nextAttemptAt", "\"2026-11-18 11:06:40\"", "nextAttemptAt"},
        {"nextAttemptAt", "\"2026-11-18T11:06:40.123\"", "nextAttemptAt"}, /* no zone */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *root = valid_record();
        json_t *v = json_loads(cases[i].value, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(root, cases[i].field, v);
        expect_refused_json(root, cases[i].needle);
    }
}

static void test_refuses_malformed_attempts(void **state)
{
    (void)state;
    static const char *attempts[] = {
        "[5]",
        "[null]",
        "[\"attempt\"]",
        "[{\"attempt\":1,\"durationMs\":3,\"status\":200,\"error\":null}]", /* no "at" */
        "[{\"attempt\":1,\"at\":\"not a time\",\"durationMs\":3}]",
        "[{\"attempt\":1,\"at\":17950000,\"durationMs\":3}]",
        "[{\"attempt\":1,\"at\":\"2026-11-18T11:06:40.123Z\"}]", /* no durationMs */
        "[{\"attempt\":1,\"at\":\"2026-11-18T11:06:40.123Z\",\"durationMs\":\"3\"}]",
        /* the second of two is bad (one string: the parentheses say so to clang) */
        ("[{\"attempt\":1,\"at\":\"2026-11-18T11:06:40.123Z\",\"durationMs\":3},"
         "{\"attempt\":2,\"at\":\"2026-13-45T11:06:40Z\",\"durationMs\":3}]"),
    };
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        json_t *root = valid_record();
        json_t *v = json_loads(attempts[i], 0, NULL);
        assert_non_null(v);
        json_object_set_new(root, "attempts", v);
        expect_refused_json(root, "attempt");
    }
    json_t *root = valid_record();
    json_object_set_new(root, "attempts",
                        json_loads("[{\"attempt\":1,\"at\":\"2026-11-18T11:06:40.123Z\","
                                   "\"durationMs\":3},{\"at\":\"x\",\"durationMs\":3}]",
                                   0, NULL));
    expect_refused_json(root, "attempt 2 is malformed");
}

/* ---- attempts ------------------------------------------------------------ */

static void test_attempts(void **state)
{
    (void)state;
    struct payload *p = payload_new("{}", 2);
    struct delivery *dl = delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "ep", URL, p);
    payload_unref(p);
    assert_true(strlen(dl->id) == 36);
    assert_null(delivery_last_attempt(dl));
    assert_int_equal(dl->n_attempts, 0);
    assert_int_equal(dl->source_partition, -1);
    assert_int_equal(dl->source_offset, -1);

    char longerr[1000];
    memset(longerr, 'e', sizeof(longerr) - 1);
    longerr[sizeof(longerr) - 1] = '\0';
    for (int i = 0; i < 20; i++) {
        const struct attempt *a =
            delivery_add_attempt(dl, T0 + i, i, i % 2 ? 0 : 500, i % 2 ? longerr : NULL);
        assert_int_equal(a->n, i + 1);
        assert_ptr_equal(delivery_last_attempt(dl), a);
    }
    assert_int_equal(dl->n_attempts, 20);
    assert_int_equal(dl->attempts[0].n, 1); /* earlier ones survive the growth */
    assert_int_equal(dl->attempts[0].status, 500);
    assert_null(dl->attempts[0].error);
    assert_int_equal(strlen(dl->attempts[1].error), ATTEMPT_ERROR_MAX); /* bounded */
    assert_int_equal(dl->attempts[19].at_ms, T0 + 19);

    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    json_t *root = load(rec, len);
    assert_int_equal(json_array_size(json_object_get(root, "attempts")), 20);
    json_decref(root);
    free(rec);

    /* The delivery ids are fresh UUIDs. */
    struct payload *q = payload_new("{}", 2);
    struct delivery *other = delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "ep", URL, q);
    payload_unref(q);
    assert_string_not_equal(dl->id, other->id);
    delivery_destroy(other);
    delivery_destroy(dl);
}

/* ---- memory: one allocation per event, freed at its home ------------------ */

static struct endpoint *test_endpoint(const char *id, const char *url)
{
    struct endpoint *ep = endpoint_new();
    ep->id = xstrdup(id);
    ep->url = xstrdup(url);
    return ep;
}

static void *destroy_on_thread(void *arg)
{
    delivery_destroy(arg);
    return NULL;
}

/*
 * An event's deliveries share its body and its strings in one allocation;
 * each carries its own endpoint; the allocation goes to its home only when
 * the last of them is destroyed (on another thread here, as a worker
 * does), and is freed by the home's owner (drain), not before.
 */
static void test_event_in_one_allocation(void **state)
{
    (void)state;
    struct endpoint *eps[3] = {test_endpoint("ep-a", "http://a.example/x"),
                               test_endpoint("ep-b", "http://b.example/y"),
                               test_endpoint("ep-c", URL)};
    struct payload_home home = {NULL};
    struct delivery_event ev = {EVENT_ID, "Subscribe", ACCOUNT_ID, "subscription-events",
                                4,        99,          seed_body,  strlen(seed_body)};
    struct delivery *dl = delivery_new_event(&ev, eps, 3, &home);
    struct delivery *d[3];
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(dl);
        d[i] = dl;
        dl = dl->next;
        d[i]->next = NULL;
    }
    assert_null(dl);
    struct payload *body = d[0]->body;
    assert_int_equal(atomic_load(&body->refs), 3);
    assert_int_equal(body->len, strlen(seed_body));
    assert_string_equal(body->data, seed_body);
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(d[i]->body, body);
        assert_ptr_equal(d[i]->ep, eps[i]); /* the reference passed on */
        assert_string_equal(d[i]->endpoint_id, eps[i]->id);
        assert_string_equal(d[i]->url, eps[i]->url);
        assert_string_equal(d[i]->event_id, EVENT_ID);
        assert_string_equal(d[i]->event_type, "Subscribe");
        assert_string_equal(d[i]->account_id, ACCOUNT_ID);
        assert_string_equal(d[i]->source_topic, "subscription-events");
        assert_int_equal(d[i]->source_partition, 4);
        assert_int_equal(d[i]->source_offset, 99);
        assert_int_equal(strlen(d[i]->id), 36);
        assert_int_equal(d[i]->n_attempts, 0);
        assert_null(delivery_last_attempt(d[i]));
    }
    assert_string_not_equal(d[0]->id, d[1]->id);

    /* Records, attempts (past the one kept inside) and replaced strings
     * work as for a lone delivery. */
    for (int i = 0; i < ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST + 3; i++) {
        (void)delivery_add_attempt(d[1], T0 + i, 1, 503, i % 2 ? "timeout" : NULL);
    }
    assert_int_equal(delivery_attempt_count(d[1]), ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST + 3);
    assert_int_equal(d[1]->attempts[0].at_ms, T0);
    delivery_set_url(d[2], "http://c.example/new");
    delivery_set_source(d[2], "elsewhere", 1, 2);
    size_t len = 0;
    char *rec = delivery_to_record(d[2], &len);
    assert_non_null(rec);
    char err[256];
    struct delivery *back = delivery_from_record(rec, len, err, sizeof(err));
    assert_non_null(back);
    assert_string_equal(back->url, "http://c.example/new");
    assert_string_equal(back->source_topic, "elsewhere");
    assert_string_equal(back->body->data, seed_body);
    assert_null(back->body->home);
    delivery_destroy(back);
    free(rec);

    delivery_destroy(d[0]);
    delivery_destroy(d[2]);
    assert_null(atomic_load(&home.head)); /* d[1] still uses it */
    assert_int_equal(atomic_load(&body->refs), 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, destroy_on_thread, d[1]), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* Handed back, not freed by that thread: the drain frees it (valgrind
     * and ASan see a leak otherwise). */
    assert_ptr_equal(atomic_load(&home.head), body);
    payload_home_drain(&home);
    assert_null(atomic_load(&home.head));
    payload_home_drain(&home); /* empty: nothing */

    /* No home: the last delivery frees it. */
    struct endpoint *one = test_endpoint("ep-a", "http://a.example/x");
    dl = delivery_new_event(&ev, &one, 1, NULL);
    assert_null(dl->next);
    delivery_destroy(dl);
    assert_null(delivery_new_event(&ev, NULL, 0, NULL));
}

/*
 * An error text cut at ATTEMPT_ERROR_MAX bytes is cut on a UTF-8 character
 * boundary: a split character would make the attempt invalid JSON, and the
 * record (and every retry read back from it) would lose that attempt.
 */
static void test_attempt_error_utf8_cut(void **state)
{
    (void)state;
    struct payload *p = payload_new("{}", 2);
    struct delivery *dl = delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "ep", URL, p);
    payload_unref(p);
    char err[400];
    size_t n = 0;
    err[n++] = 'x'; /* shifts the 2-byte characters so byte 256 falls inside one */
    while (n + 2 < sizeof(err)) {
        err[n++] = (char)0xc3;
        err[n++] = (char)0xa9; /* U+00E9 */
    }
    err[n] = '\0';
    (void)delivery_add_attempt(dl, T0, 5, 0, "connection refused");
    (void)delivery_add_attempt(dl, T0 + 1, 5, 0, err);
    (void)delivery_add_attempt(dl, T0 + 2, 5, 503, NULL);
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    json_t *root = load(rec, len);
    json_t *attempts = json_object_get(root, "attempts");
    size_t kept = json_array_size(attempts);
    int error_kept = json_is_string(json_object_get(json_array_get(attempts, 1), "error"));
    if (kept != 3) {
        print_error("record keeps %zu of 3 attempts: %s\n", kept, rec);
    }
    json_decref(root);
    free(rec);
    delivery_destroy(dl);
    assert_int_equal(kept, 3);
    assert_true(error_kept);
}

/* ---- payload ------------------------------------------------------------- */

static void test_payload_refcount(void **state)
{
    (void)state;
    struct payload *p = payload_new(seed_body, strlen(seed_body));
    assert_int_equal(atomic_load(&p->refs), 1);
    assert_int_equal(p->len, strlen(seed_body));
    assert_memory_equal(p->data, seed_body, p->len);
    assert_int_equal(p->data[p->len], '\0');

    struct delivery *d1 = delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "ep-1", URL, p);
    struct delivery *d2 = delivery_new(EVENT_ID, "Subscribe", ACCOUNT_ID, "ep-2", URL, p);
    assert_ptr_equal(d1->body, p); /* shared, not copied */
    assert_ptr_equal(d2->body, p);
    assert_int_equal(atomic_load(&p->refs), 3);
    payload_unref(p); /* the creator lets go */
    assert_int_equal(atomic_load(&d1->body->refs), 2);
    delivery_destroy(d1);
    assert_int_equal(atomic_load(&d2->body->refs), 1);
    assert_memory_equal(d2->body->data, seed_body, strlen(seed_body)); /* still alive */
    delivery_destroy(d2); /* frees it: valgrind/ASan report a leak or double free */

    struct payload *q = payload_new("", 0);
    assert_int_equal(q->len, 0);
    assert_int_equal(q->data[0], '\0');
    assert_ptr_equal(payload_ref(q), q);
    assert_int_equal(atomic_load(&q->refs), 2);
    payload_unref(q);
    payload_unref(q);
    payload_unref(NULL);
    delivery_destroy(NULL);

    /* The payload copies its input. */
    char buf[] = "{\"a\":1}";
    struct payload *r = payload_new(buf, strlen(buf));
    buf[2] = 'b';
    assert_string_equal(r->data, "{\"a\":1}");
    payload_unref(r);
}

/* A status that is no HTTP status reads as no answer, and is written back
 * as null: the record survives a second trip unchanged. */
static void test_status_out_of_range(void **state)
{
    (void)state;
    struct delivery *dl = full_delivery(compact_body, "Subscribe");
    size_t len = 0;
    char *rec = delivery_to_record(dl, &len);
    delivery_destroy(dl);
    static const char *const bad[] = {"-50", "0", "1000", "99", "4294967799"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* The first attempt's "status":503 becomes the bad value. */
        char *at = strstr(rec, "\"status\":503");
        assert_non_null(at);
        size_t head = (size_t)(at - rec) + 9, tail = len - head - 3;
        char *edited = malloc(len + 32);
        assert_non_null(edited);
        memcpy(edited, rec, head);
        size_t n = strlen(bad[i]);
        memcpy(edited + head, bad[i], n);
        memcpy(edited + head + n, at + 12, tail);
        char err[256] = "";
        struct delivery *back = delivery_from_record(edited, head + n + tail, err, sizeof(err));
        if (back == NULL) {
            print_error("%s: %s\n", bad[i], err);
        }
        assert_non_null(back);
        assert_int_equal(back->attempts[0].status, 0);
        size_t len2 = 0;
        char *again = delivery_to_record(back, &len2);
        struct delivery *back2 = delivery_from_record(again, len2, err, sizeof(err));
        assert_non_null(back2);
        check_same_delivery(back, back2);
        delivery_destroy(back2);
        free(again);
        delivery_destroy(back);
        free(edited);
    }
    free(rec);
}

/* A record whose "event" is not its last member (another tool wrote it,
 * pretty-printed), with "event" also as a key inside the event and inside
 * a string: the body is still the event value's own bytes. */
static void test_event_bytes_anywhere(void **state)
{
    (void)state;
    static const char event[] = "{ \"eventId\": \"" EVENT_ID "\",\n  \"eventType\": \"Subscribe\","
                                " \"eventDetails\": {\"accountId\": \"" ACCOUNT_ID "\", "
                                "\"event\": {\"x\": [1, {\"event\": \"}\\\"\"}]}} }";
    static const char head[] = "{ \"note\": \",\\\"event\\\":{}\", \"event\" :\t";
    static const char tail[] =
        " ,\n \"version\": 1, \"deliveryId\": \"7e8230d7-f147-4172-a792-3519a903bf2e\", "
        "\"eventId\": \"" EVENT_ID "\", \"eventType\": \"Subscribe\", \"accountId\": \"" ACCOUNT_ID
        "\", \"endpointId\": \"ep-1\", \"endpointUrl\": \"" URL "\", \"firstAttemptAt\": null, "
        "\"nextAttemptAt\": null, \"attempts\": [], \"source\": {\"topic\": null, "
        "\"partition\": 0, \"offset\": 0} }";
    char rec[2048];
    int n = snprintf(rec, sizeof(rec), "%s%s%s", head, event, tail);
    assert_true(n > 0 && (size_t)n < sizeof(rec));
    char err[256] = "";
    struct delivery *dl = delivery_from_record(rec, (size_t)n, err, sizeof(err));
    if (dl == NULL) {
        print_error("%s\n", err);
    }
    assert_non_null(dl);
    assert_int_equal(dl->body->len, strlen(event));
    assert_memory_equal(dl->body->data, event, strlen(event));
    delivery_destroy(dl);
}

/* ---- the writer against jansson ------------------------------------------ */

/* What jansson writes for the same record: json_dumps of
 * delivery_record_meta (plus a dead letter's two fields), with the event
 * spliced in last, as the records were written before jsonw. */
static char *jansson_record(const struct delivery *dl, const char *reason, int64_t at_ms)
{
    json_t *meta = delivery_record_meta(dl);
    if (meta == NULL) {
        return NULL;
    }
    if (reason != NULL) {
        char t[UTIL_TIME_LEN];
        util_format_time(at_ms, t, sizeof(t));
        json_object_set_new(meta, "reason", json_string(reason));
        json_object_set_new(meta, "deadLetteredAt", json_string(t));
    }
    char *head = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(meta);
    assert_non_null(head);
    size_t hlen = strlen(head);
    char *out = malloc(hlen + 16 + dl->body->len);
    assert_non_null(out);
    memcpy(out, head, hlen - 1);
    static const char key[] = ",\"event\":";
    size_t n = sizeof(key) - 1;
    memcpy(out + hlen - 1, key, n);
    memcpy(out + hlen - 1 + n, dl->body->data, dl->body->len);
    memcpy(out + hlen - 1 + n + dl->body->len, "}", 2);
    free(head);
    return out;
}

static void check_same_as_jansson(const struct delivery *dl)
{
    size_t len = 0;
    char *ours = delivery_to_record(dl, &len);
    char *theirs = jansson_record(dl, NULL, 0);
    assert_non_null(ours);
    assert_non_null(theirs);
    assert_int_equal(len, strlen(ours));
    assert_string_equal(ours, theirs);
    free(ours);
    free(theirs);
    ours = delivery_to_dead_letter(dl, "retry_window_expired", T0 + 30 * MIN, &len);
    theirs = jansson_record(dl, "retry_window_expired", T0 + 30 * MIN);
    assert_non_null(ours);
    assert_string_equal(ours, theirs);
    free(ours);
    free(theirs);
}

static void test_writer_same_as_jansson(void **state)
{
    (void)state;
    struct delivery *dl = full_delivery(seed_body, "Subscribe");
    check_same_as_jansson(dl);

    /* Every character jansson escapes, non-ASCII text, DEL and '/', an
     * error with invalid bytes (repaired), no source topic, omitted
     * attempts, replayedFrom, times and statuses that are null. */
    dl->event_type = /* not owned: never freed */
        "Sub\"scr\\ibe\b\f\n\r\t\x01\x1f\x7f/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    (void)delivery_add_attempt(dl, 0, -1, 0, "bad \xff\xfe bytes \xe2\x82 cut");
    delivery_set_source(dl, NULL, dl->source_partition, dl->source_offset);
    dl->attempts_omitted = 12345;
    dl->replayed_from = xstrdup("dlq:webhook-dead-letters/2/77");
    dl->first_attempt_ms = 0;
    dl->deferrals = 3;
    check_same_as_jansson(dl);
    delivery_destroy(dl);

    dl = full_delivery(compact_body, "Unsubscribe");
    while (delivery_attempt_count(dl) < ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST + 7) {
        (void)delivery_add_attempt(dl, T0 + 20 * MIN, 5, 500, "\xc0\x80 overlong");
    }
    check_same_as_jansson(dl);

    /* A field jansson refuses (invalid UTF-8) fails both ways. */
    delivery_set_url(dl, "https://x.example/\xff");
    size_t len = 0;
    assert_null(delivery_to_record(dl, &len));
    assert_null(delivery_record_meta(dl));
    delivery_destroy(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_compact_and_append),
        cmocka_unit_test(test_round_trip_body_bytes),
        cmocka_unit_test(test_round_trip_minimal),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_refuses_not_json),
        cmocka_unit_test(test_refuses_wrong_version),
        cmocka_unit_test(test_refuses_missing_fields),
        cmocka_unit_test(test_refuses_ill_typed_fields),
        cmocka_unit_test(test_refuses_malformed_attempts),
        cmocka_unit_test(test_attempts),
        cmocka_unit_test(test_attempt_error_utf8_cut),
        cmocka_unit_test(test_payload_refcount),
        cmocka_unit_test(test_writer_same_as_jansson),
        cmocka_unit_test(test_status_out_of_range),
        cmocka_unit_test(test_event_bytes_anywhere),
        cmocka_unit_test(test_event_in_one_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
