/*
 * Unit tests for event.c: the envelope check of DESIGN section 3 (eventId
 * UUID, eventType string, eventDetails object with accountId UUID; anything
 * else passes through).  Valid events are the seed 002 payload shape;
 * invalid ones check that the error names the field and the problem, and
 * that a failed parse leaves nothing to release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

#define MAX_BYTES (1024 * 1024)
#define EVENT_ID "0f1d5918-052d-4915-89a7-8cc9c4d33492"
#define ACCOUNT_ID "0b98ef2c-f739-45f1-81e3-b2def2bb868f"

/* The seed 002 Subscribe payload, as documented (pretty-printed). */
static const char seed_subscribe[] =
    "{\n"
    "\"eventId\": \"" EVENT_ID "\",\n"
    "\"eventType\": \"Subscribe\",\n"
    "\"eventDetails\": {\n"
    "\"actionType\": \"SubscriptionViaCalendarPage\",\n"
    "\"accountId\": \"" ACCOUNT_ID "\",\n"
    "\"accountName\": \"Your Account\",\n"
    "\"accountCode\": \"your-account\",\n"
    "\"subscription\": {\n"
    "\"calendarSubscriptionId\": \"0f1d5918-052d-4915-89a7-8cc9c4d33492\",\n"
    "\"calendarId\": \"4a2d4acb-bd05-e511-af43-067f1c947754\",\n"
    "\"calendarTitle\": \"My Sports Calendar\",\n"
    "\"calendarTags\": [{\"tagId\": \"6513319e-d3e1-4497-89ee-b5dcee9a58bc\", "
    "\"tagText\": \"Team G\"}],\n"
    "\"timeZoneTag\": {\"windowsName\": \"Eastern Standard Time\"},\n"
    "\"createdDateTimeUtc\": \"2017-03-15 03:48:24.822495\",\n"
    "\"additionalOptIn\": false,\n"
    "\"isMarketingAllowed\": true,\n"
    "\"enteredPostCode\": \"90210\"\n"
    "}\n"
    "}\n"
    "}";

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL) {                                                     \
            print_error("\"%s\" does not contain \"%s\"\n", (hay), (needle));                      \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Parses len bytes expecting failure; returns the error text (static). */
static const char *parse_fail_len(const void *data, size_t len, size_t max)
{
    static char err[512];
    struct event ev;
    memset(&ev, 0xa5, sizeof(ev)); /* garbage in: must come out cleared */
    err[0] = '\0';
    int rc = event_parse(&ev, data, len, max, err, sizeof(err));
    if (rc != -1) {
        print_error("expected a failure for: %.*s\n", (int)len, (const char *)data);
        fail();
    }
    /* Nothing half-filled is left behind. */
    assert_string_equal(ev.id, "");
    assert_string_equal(ev.type, "");
    assert_string_equal(ev.account_id, "");
    assert_true(strlen(err) > 0);
    return err;
}

static const char *parse_fail(const char *json)
{
    return parse_fail_len(json, strlen(json), MAX_BYTES);
}

/* An event built from JSON fragments; NULL leaves the member out. */
static char *build_event(const char *id, const char *type, const char *details)
{
    char *buf = malloc(4096);
    assert_non_null(buf);
    size_t n = 0;
    n += (size_t)snprintf(buf + n, 4096 - n, "{\"version\": 2");
    if (id != NULL) {
        n += (size_t)snprintf(buf + n, 4096 - n, ", \"eventId\": %s", id);
    }
    if (type != NULL) {
        n += (size_t)snprintf(buf + n, 4096 - n, ", \"eventType\": %s", type);
    }
    if (details != NULL) {
        n += (size_t)snprintf(buf + n, 4096 - n, ", \"eventDetails\": %s", details);
    }
    snprintf(buf + n, 4096 - n, "}");
    return buf;
}

/* eventDetails with the given accountId fragment (NULL: left out). */
static char *build_details(const char *account)
{
    char *buf = malloc(1024);
    assert_non_null(buf);
    if (account != NULL) {
        snprintf(buf, 1024, "{\"actionType\": \"SubscriptionViaSms\", \"accountId\": %s}", account);
    } else {
        snprintf(buf, 1024, "{\"actionType\": \"SubscriptionViaSms\"}");
    }
    return buf;
}

#define Q(s) "\"" s "\""

/* ---- valid events ----------------------------------------------------- */

static void test_seed_subscribe(void **state)
{
    (void)state;
    struct event ev;
    char err[256] = "";
    assert_int_equal(
        event_parse(&ev, seed_subscribe, strlen(seed_subscribe), MAX_BYTES, err, sizeof(err)), 0);
    assert_string_equal(ev.id, EVENT_ID);
    assert_string_equal(ev.type, "Subscribe");
    assert_string_equal(ev.account_id, ACCOUNT_ID);
}

static void test_unsubscribe(void **state)
{
    (void)state;
    static const char json[] =
        "{\"eventId\":\"6F9619FF-8B86-D011-B42D-00CF4FC964FF\",\"eventType\":\"Unsubscribe\","
        "\"eventDetails\":{\"actionType\":\"UnsubscriptionViaOneClickLink\","
        "\"accountId\":\"a1b2c3d4-0000-4000-8000-00000000beef\","
        "\"subscription\":{\"calendarSubscriptionId\":\"0f1d5918-052d-4915-89a7-8cc9c4d33492\"}}}";
    struct event ev;
    char err[256] = "";
    assert_int_equal(event_parse(&ev, json, strlen(json), MAX_BYTES, err, sizeof(err)), 0);
    assert_string_equal(ev.id, "6F9619FF-8B86-D011-B42D-00CF4FC964FF"); /* upper case is a UUID */
    assert_string_equal(ev.type, "Unsubscribe");
    assert_string_equal(ev.account_id, "a1b2c3d4-0000-4000-8000-00000000beef");
}

static void test_future_type_and_extra_fields(void **state)
{
    (void)state;
    static const char json[] =
        "{\"schema\":3,\"eventId\":\"" EVENT_ID "\",\"eventType\":\"CalendarRenamed\","
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\",\"n\":[1,2.5,null,{}]},"
        "\"extra\":{\"deep\":[true,\"x\"]},\"eventId2\":null}";
    struct event ev;
    char err[256] = "";
    assert_int_equal(event_parse(&ev, json, strlen(json), MAX_BYTES, err, sizeof(err)), 0);
    assert_string_equal(ev.type, "CalendarRenamed");
    assert_string_equal(ev.id, EVENT_ID);
}

/* data is not NUL-terminated: only len bytes count. */
static void test_len_is_respected(void **state)
{
    (void)state;
    size_t len = strlen(seed_subscribe);
    char *buf = malloc(len + 16);
    assert_non_null(buf);
    memcpy(buf, seed_subscribe, len);
    memcpy(buf + len, "garbage\xff{[", 10); /* no NUL after the record */
    struct event ev;
    char err[256] = "";
    assert_int_equal(event_parse(&ev, buf, len, MAX_BYTES, err, sizeof(err)), 0);
    assert_string_equal(ev.id, EVENT_ID);
    /* ... and the same bytes with the garbage counted are invalid. */
    assert_contains(parse_fail_len(buf, len + 10, MAX_BYTES), "not valid JSON");
    free(buf);
}

static void test_trailing_whitespace_ok(void **state)
{
    (void)state;
    char json[2048];
    snprintf(json, sizeof(json), "  \r\n\t%s\n\n  ", seed_subscribe);
    struct event ev;
    char err[256] = "";
    assert_int_equal(event_parse(&ev, json, strlen(json), MAX_BYTES, err, sizeof(err)), 0);
    assert_string_equal(ev.account_id, ACCOUNT_ID);
}

static void test_size_limit_edge(void **state)
{
    (void)state;
    size_t len = strlen(seed_subscribe);
    struct event ev;
    char err[256] = "";
    /* Exactly at the limit is allowed. */
    assert_int_equal(event_parse(&ev, seed_subscribe, len, len, err, sizeof(err)), 0);
    /* One byte over is refused before parsing, naming both sizes. */
    const char *e = parse_fail_len(seed_subscribe, len, len - 1);
    assert_contains(e, "over the limit");
    char want[64];
    snprintf(want, sizeof(want), "%zu bytes", len);
    assert_contains(e, want);
    snprintf(want, sizeof(want), "limit of %zu", len - 1);
    assert_contains(e, want);
}

static void test_oversized_garbage_is_not_parsed(void **state)
{
    (void)state;
    /* Over the limit is reported as such even when it is not JSON. */
    size_t len = 64 * 1024;
    char *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, '[', len);
    assert_contains(parse_fail_len(buf, len, 1024), "over the limit");
    free(buf);
}

/* ---- missing and ill-typed envelope fields ---------------------------- */

static void test_missing_fields(void **state)
{
    (void)state;
    char *details = build_details(Q(ACCOUNT_ID));
    char *no_acct = build_details(NULL);
    struct {
        char *json;
        const char *field;
    } cases[] = {
        {build_event(NULL, Q("Subscribe"), details), "eventId"},
        {build_event(Q(EVENT_ID), NULL, details), "eventType"},
        {build_event(Q(EVENT_ID), Q("Subscribe"), NULL), "eventDetails"},
        {build_event(Q(EVENT_ID), Q("Subscribe"), no_acct), "eventDetails.accountId"},
        {build_event(Q(EVENT_ID), Q("Subscribe"), "{}"), "eventDetails.accountId"},
        {build_event(NULL, NULL, NULL), "eventId"}, /* the first problem is reported */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = parse_fail(cases[i].json);
        char want[128];
        snprintf(want, sizeof(want), "%s is missing", cases[i].field);
        if (strstr(e, want) == NULL) {
            print_error("case %zu %s: \"%s\"\n", i, cases[i].json, e);
        }
        assert_contains(e, want);
        free(cases[i].json);
    }
    free(details);
    free(no_acct);
}

/* A member that is there but not a string (eventId, eventType, accountId). */
static void test_ill_typed_string_fields(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *got;
    } types[] = {
        {"42", "got a number"},
        {"4.2e1", "got a number"},
        {"null", "got null"},
        {"[]", "got an array"},
        {"[\"" EVENT_ID "\"]", "got an array"},
        {"{}", "got an object"},
        {"true", "got a boolean"},
        {"false", "got a boolean"},
    };
    char *details = build_details(Q(ACCOUNT_ID));
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char *bad_details = build_details(types[i].value);
        struct {
            char *json;
            const char *field;
        } cases[] = {
            {build_event(types[i].value, Q("Subscribe"), details), "eventId"},
            {build_event(Q(EVENT_ID), types[i].value, details), "eventType"},
            {build_event(Q(EVENT_ID), Q("Subscribe"), bad_details), "eventDetails.accountId"},
        };
        for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
            const char *e = parse_fail(cases[j].json);
            if (strstr(e, cases[j].field) == NULL || strstr(e, "must be a string") == NULL ||
                strstr(e, types[i].got) == NULL) {
                print_error("case %s: \"%s\"\n", cases[j].json, e);
            }
            assert_contains(e, cases[j].field);
            assert_contains(e, "must be a string");
            assert_contains(e, types[i].got);
            free(cases[j].json);
        }
        free(bad_details);
    }
    free(details);
}

static void test_details_not_object(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *got;
    } cases[] = {
        {"42", "got a number"},
        {"null", "got null"},
        {"[{\"accountId\": \"" ACCOUNT_ID "\"}]", "got an array"},
        {Q(ACCOUNT_ID), "got a string"},
        {"true", "got a boolean"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *json = build_event(Q(EVENT_ID), Q("Subscribe"), cases[i].value);
        const char *e = parse_fail(json);
        assert_contains(e, "eventDetails");
        assert_contains(e, "must be an object");
        assert_contains(e, cases[i].got);
        free(json);
    }
}

static void test_empty_event_type(void **state)
{
    (void)state;
    char *details = build_details(Q(ACCOUNT_ID));
    char *json = build_event(Q(EVENT_ID), Q(""), details);
    const char *e = parse_fail(json);
    assert_contains(e, "eventType");
    free(json);
    free(details);
}

static void test_not_uuid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\"\"",
        "\"not-a-uuid\"",
        "\"0f1d5918052d491589a78cc9c4d33492\"",       /* no dashes */
        "\"{0f1d5918-052d-4915-89a7-8cc9c4d33492}\"", /* braces */
        "\"0f1d5918-052d-4915-89a7-8cc9c4d3349\"",    /* one short */
        "\"0f1d5918-052d-4915-89a7-8cc9c4d334921\"",  /* one long */
        "\"0f1d5918-052d-4915-89a7-8cc9c4d3349g\"",   /* not hex */
        "\"0f1d5918_052d-4915-89a7-8cc9c4d33492\"",   /* wrong separator */
        "\"0f1d5918-052d-4915-89a7-8cc9c4d33492 \"",  /* trailing space */
        "\" 0f1d5918-052d-4915-89a7-8cc9c4d33492\"",  /* leading space */
        "\"*\"",                                      /* "*" is for endpoints, not events */
    };
    char *good_details = build_details(Q(ACCOUNT_ID));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *json = build_event(bad[i], Q("Subscribe"), good_details);
        const char *e = parse_fail(json);
        if (strstr(e, "eventId") == NULL || strstr(e, "not a UUID") == NULL) {
            print_error("eventId %s: \"%s\"\n", bad[i], e);
        }
        assert_contains(e, "eventId");
        assert_contains(e, "not a UUID");
        free(json);

        char *details = build_details(bad[i]);
        json = build_event(Q(EVENT_ID), Q("Subscribe"), details);
        e = parse_fail(json);
        if (strstr(e, "accountId") == NULL || strstr(e, "not a UUID") == NULL) {
            print_error("accountId %s: \"%s\"\n", bad[i], e);
        }
        assert_contains(e, "eventDetails.accountId");
        assert_contains(e, "not a UUID");
        free(json);
        free(details);
    }
    free(good_details);
}

/* ---- not an object, not JSON ------------------------------------------ */

static void test_top_level_array(void **state)
{
    (void)state;
    static const char *cases[] = {
        "[]",
        "[{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Subscribe\","
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\"}}]",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = parse_fail(cases[i]);
        assert_contains(e, "must be a JSON object");
        assert_contains(e, "got an array");
    }
}

/*
 * A top-level string, number, null or boolean is valid JSON but not an
 * Event: it is refused as "record must be a JSON object, got ...", not as
 * invalid JSON (event_parse loads with JSON_DECODE_ANY).
 */
static void test_top_level_scalar(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *got;
    } cases[] = {
        {"\"Subscribe\"", "got a string"}, {"42", "got a number"},
        {"-1.5e3", "got a number"},        {"null", "got null"},
        {"true", "got a boolean"},
    };
    /* The outcome is right: every one is refused, with nothing to release. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void)parse_fail(cases[i].json);
    }
    /* The message should say what is wrong: not an object (not "not JSON"). */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = parse_fail(cases[i].json);
        if (strstr(e, "must be a JSON object") == NULL) {
            print_error("%s: \"%s\"\n", cases[i].json, e);
        }
        assert_contains(e, "must be a JSON object");
        assert_contains(e, cases[i].got);
    }
}

static void test_not_json(void **state)
{
    (void)state;
    static const char *cases[] = {
        "hello",
        "{eventId: 1}",
        "{'eventId': '0f1d5918-052d-4915-89a7-8cc9c4d33492'}",
        "{\"eventId\":\"" EVENT_ID "\",}",
        "{} {}",
        "{\"a\":1} trailing",
        "\xef\xbb\xbf{}", /* a UTF-8 byte order mark */
        "{\"a\":01}",
        "{\"a\":NaN}",
        " ",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = parse_fail(cases[i]);
        if (strstr(e, "not valid JSON") == NULL) {
            print_error("case %zu: \"%s\"\n", i, e);
        }
        assert_contains(e, "not valid JSON");
    }
}

/* Every proper prefix of a valid event is refused as not valid JSON. */
static void test_truncated(void **state)
{
    (void)state;
    size_t len = strlen(seed_subscribe);
    for (size_t n = 1; n < len; n++) {
        /* A heap copy of exactly n bytes: a read past the end shows under ASan. */
        char *buf = malloc(n);
        assert_non_null(buf);
        memcpy(buf, seed_subscribe, n);
        const char *e = parse_fail_len(buf, n, MAX_BYTES);
        if (strstr(e, "not valid JSON") == NULL) {
            print_error("prefix %zu: \"%s\"\n", n, e);
        }
        assert_contains(e, "not valid JSON");
        free(buf);
    }
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *cases[] = {
        /* in a passthrough member */
        "{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Subscribe\","
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\",\"accountName\":\"a\xff b\"}}",
        /* in the event type */
        "{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Sub\xc3\"," /* truncated sequence */
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\"}}",
        /* overlong encoding of '/' */
        "{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Subscribe\","
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\",\"x\":\"\xc0\xaf\"}}",
        /* UTF-16 surrogate encoded in UTF-8 (CESU) */
        "{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Subscribe\","
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\",\"x\":\"\xed\xa0\x80\"}}",
        /* in a key */
        "{\"eventId\":\"" EVENT_ID "\",\"event\xfeType\":\"Subscribe\",\"eventType\":\"S\","
        "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID "\"}}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = parse_fail(cases[i]);
        if (strstr(e, "not valid JSON") == NULL) {
            print_error("case %zu: \"%s\"\n", i, e);
        }
        assert_contains(e, "not valid JSON");
    }
    /* Valid multi-byte UTF-8 is fine. */
    static const char ok[] = "{\"eventId\":\"" EVENT_ID "\",\"eventType\":\"Subscribe\","
                             "\"eventDetails\":{\"accountId\":\"" ACCOUNT_ID
                             "\",\"accountName\":\"Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}}";
    struct event ev;
    char err[256] = "";
    assert_int_equal(event_parse(&ev, ok, strlen(ok), MAX_BYTES, err, sizeof(err)), 0);
}

static void test_empty_and_null_value(void **state)
{
    (void)state;
    const char *e = parse_fail_len("", 0, MAX_BYTES);
    assert_contains(e, "no value");
    e = parse_fail_len(NULL, 0, MAX_BYTES);
    assert_contains(e, "no value");
    e = parse_fail_len(NULL, 10, MAX_BYTES); /* a NULL value with a length is still no value */
    assert_contains(e, "no value");
}

/* A tiny or absent error buffer never overflows (ASan would tell). */
static void test_small_errstr(void **state)
{
    (void)state;
    char small[8];
    memset(small, 'x', sizeof(small));
    struct event ev;
    char *json = build_event(Q("not-a-uuid-at-all-and-rather-long"), Q("Subscribe"), "{}");
    assert_int_equal(event_parse(&ev, json, strlen(json), MAX_BYTES, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "eventId", 7);
    assert_int_equal(event_parse(&ev, json, strlen(json), MAX_BYTES, NULL, 0), -1);
    assert_string_equal(ev.id, "");
    free(json);
}

/* An invalid event's error text goes into the logs: it names the kind and
 * the place of the JSON error, never the payload bytes there (jansson's
 * "near '...'" context used to carry them). */
static void test_error_holds_no_payload(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"eventId\":\"SECRETPAYLOAD",
        "{\"eventId\":SECRETPAYLOAD}",
        "{\"SECRETPAYLOAD\":1,}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct event ev;
        char err[512];
        assert_int_not_equal(event_parse(&ev, bad[i], strlen(bad[i]), 4096, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "not valid JSON"));
        assert_null(strstr(err, "SECRET"));
    }
}

/* The scanner path and the jansson document agree on the envelope's
 * corner cases: repeated keys (the last counts), escaped keys, escaped
 * values, a NUL jansson reads past, \u0000 anywhere. */
static void test_same_as_jansson(void **state)
{
    (void)state;
#define E(id, type, det) "{\"eventId\":" id ",\"eventType\":" type ",\"eventDetails\":" det "}"
#define U "\"" EVENT_ID "\""
#define A "{\"accountId\":\"" ACCOUNT_ID "\"}"
    static const struct {
        const char *text;
        size_t len;
        int ok;
    } c[] = {
#define C(s, ok) {s, sizeof(s) - 1, ok}
        C(E(U, "\"Subscribe\"", A), 1),
        C("{\"eventId\":\"bad\",\"eventId\":" U ",\"eventType\":\"T\",\"eventDetails\":" A "}",
          1), /* the last eventId counts */
        C("{\"eventId\":" U ",\"eventId\":\"bad\",\"eventType\":\"T\",\"eventDetails\":" A "}", 0),
        C("{\"eventId\":" U ",\"eventType\":\"T\",\"eventDetails\":" A ",\"eventDetails\":{}}",
          0), /* the last eventDetails has no accountId */
        C("{\"eventId\":" U ",\"eventType\":\"T\",\"eventDetails\":{\"accountId\":1,"
          "\"accountId\":\"" ACCOUNT_ID "\"}}",
          1),
        C("{\"\\u0065ventId\":" U ",\"eventType\":\"Sub\\u0073cribe\",\"eventDetails\":" A "}", 1),
        C("{\"eventId\":\"0f1d5918-052d-4915-89a7-8cc9c4d3349\\u0032\",\"eventType\":\"T\","
          "\"eventDetails\":" A "}",
          1),
        C("{\"n\":1\0,\"eventId\":" U ",\"eventType\":\"T\",\"eventDetails\":" A "}", 1),
        C("{\"n\":\"\\u0000\",\"eventId\":" U ",\"eventType\":\"T\",\"eventDetails\":" A "}", 0),
        C(E(U, "\"\\u00e9\"", A), 1),
        C(E(U, "\"\"", A), 0),
        C(E(U, "null", A), 0),
        C(E(U, "\"T\"", "[]"), 0),
        C(E(U, "\"T\"", "{\"x\":" A "}"), 0), /* accountId one level too deep */
#undef C
    };
#undef E
#undef U
#undef A
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct event a, b;
        char ea[256] = "", eb[256] = "";
        int ra = event_parse(&a, c[i].text, c[i].len, MAX_BYTES, ea, sizeof(ea));
        int rb = event_parse_jansson(&b, c[i].text, c[i].len, MAX_BYTES, eb, sizeof(eb));
        if (ra != (c[i].ok ? 0 : -1) || rb != ra || strcmp(ea, eb) != 0) {
            print_error("case %zu: %.*s: event_parse %d \"%s\", jansson %d \"%s\"\n", i,
                        (int)c[i].len, c[i].text, ra, ea, rb, eb);
            fail();
        }
        assert_string_equal(a.id, b.id);
        assert_string_equal(a.type, b.type);
        assert_string_equal(a.account_id, b.account_id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_subscribe),
        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_future_type_and_extra_fields),
        cmocka_unit_test(test_len_is_respected),
        cmocka_unit_test(test_trailing_whitespace_ok),
        cmocka_unit_test(test_size_limit_edge),
        cmocka_unit_test(test_oversized_garbage_is_not_parsed),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_ill_typed_string_fields),
        cmocka_unit_test(test_details_not_object),
        cmocka_unit_test(test_empty_event_type),
        cmocka_unit_test(test_not_uuid),
        cmocka_unit_test(test_top_level_array),
        cmocka_unit_test(test_top_level_scalar),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_empty_and_null_value),
        cmocka_unit_test(test_small_errstr),
        cmocka_unit_test(test_error_holds_no_payload),
        cmocka_unit_test(test_same_as_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
