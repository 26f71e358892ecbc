/*
 * test_cmd_dlq: how `dlq` reads a dead-letter record (cmd_dlq_record_parse,
 * cmd_dlq_raw_event).  Every record the bridge writes must be readable by
 * its own tool: an invalid event holding a NUL byte is written with
 * \u0000 and was skipped silently (never listed, never replayable).
 * Pure functions: no cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cmd_dlq.h"
#include "delivery.h"

/* The record deadletter_invalid writes for these raw bytes. */
static char *invalid_event_record(const char *raw, size_t len)
{
    json_t *obj = json_pack("{s:i, s:s, s:s, s:{s:s, s:i, s:I}, s:s}", "version", 1, "reason",
                            "invalid_event", "error", "not valid JSON", "source", "topic",
                            "subscription-events", "partition", 0, "offset", (json_int_t)7,
                            "deadLetteredAt", "2026-11-18T11:06:40.123Z");
    assert_non_null(obj);
    json_t *text = json_stringn(raw, len);
    assert_non_null(text);
    json_object_set_new(obj, "raw", text);
    char *value = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    assert_non_null(value);
    return value;
}

static void test_invalid_event_with_nul_is_read_and_replayable(void **state)
{
    static const char raw[] = "{\"eventType\":\"Sub\0scribe\"}";
    size_t raw_len = sizeof(raw) - 1;
    char *value = invalid_event_record(raw, raw_len);
    struct cmd_dlq_record r;
    (void)state;

    assert_non_null(strstr(value, "\\u0000"));
    assert_int_equal(cmd_dlq_record_parse(&r, value, strlen(value)), 0);
    assert_non_null(r.rec);
    assert_string_equal(r.reason, "invalid_event");
    assert_string_equal(r.time, "2026-11-18T11:06:40.123Z");
    size_t len = 0;
    char *back = cmd_dlq_raw_event(&r, &len);
    assert_non_null(back);
    assert_int_equal(len, raw_len);
    assert_memory_equal(back, raw, raw_len); /* the NUL and what follows it too */
    free(back);
    cmd_dlq_record_deinit(&r);
    free(value);
}

static void test_fields_printable(void **state)
{
    static const char value[] = "{\"reason\":\"x\\u0000y\",\"eventType\":\"\\u001b[31mred\","
                                "\"endpointId\":\"\",\"attempts\":[{\"error\":\"a\\u0000b: c\"}]}";
    struct cmd_dlq_record r;
    (void)state;

    assert_int_equal(cmd_dlq_record_parse(&r, value, sizeof(value) - 1), 0);
    assert_string_equal(r.reason, "x?y");
    assert_string_equal(r.event_type, "?[31mred");
    assert_string_equal(r.endpoint_id, "-");
    assert_string_equal(r.delivery_id, "-");
    assert_string_equal(r.last, "a?b");
    assert_int_equal(r.n_attempts, 1);
    cmd_dlq_record_deinit(&r);
}

static void test_unreadable_says_why(void **state)
{
    static const char *values[] = {"{\"reason\":", "[1,2]", "\xff", ""};
    (void)state;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct cmd_dlq_record r;
        assert_int_equal(cmd_dlq_record_parse(&r, values[i], strlen(values[i])), -1);
        assert_null(r.rec);
        assert_true(r.why[0] != '\0');
        assert_string_equal(r.reason, "-");
        assert_string_equal(r.last, "-");
        cmd_dlq_record_deinit(&r);
    }
}

static void test_raw_base64(void **state)
{
    static const char ok[] = "{\"reason\":\"invalid_event\",\"rawBase64\":\"/wB7fQ==\"}";
    static const char *bad[] = {
        "{\"rawBase64\":\"====\"}",
        "{\"rawBase64\":\"/wB7fQ= \"}",
        "{\"rawBase64\":\"/wB\\u00007fQ=\"}",
        "{\"rawBase64\":\"/wB7f\"}",
    };
    struct cmd_dlq_record r;
    size_t len = 0;
    (void)state;

    assert_int_equal(cmd_dlq_record_parse(&r, ok, sizeof(ok) - 1), 0);
    char *raw = cmd_dlq_raw_event(&r, &len);
    assert_non_null(raw);
    assert_int_equal(len, 4);
    assert_memory_equal(raw, "\xff\x00{}", 4);
    free(raw);
    cmd_dlq_record_deinit(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cmd_dlq_record_parse(&r, bad[i], strlen(bad[i])), 0);
        assert_null(cmd_dlq_raw_event(&r, &len));
        cmd_dlq_record_deinit(&r);
    }
}

static void test_delivery_dead_letter(void **state)
{
    static const char body[] = "{\"a\":1}";
    struct payload *p = payload_new(body, sizeof(body) - 1);
    struct delivery *dl =
        delivery_new("0f1d5918-052d-4915-89a7-8cc9c4d33492", "Subscribe",
                     "0b98ef2c-f739-45f1-81e3-b2def2bb868f", "ep-1", "https://example.com/h", p);
    struct cmd_dlq_record r;
    size_t len = 0;
    (void)state;

    payload_unref(p);
    delivery_add_attempt(dl, 1795000000123, 87, 503, NULL);
    delivery_add_attempt(dl, 1795000060000, 10000, 0, "timeout: after 10000 ms");
    char *value = delivery_to_dead_letter(dl, "retry_window_expired", 1795001800000, &len);
    assert_int_equal(cmd_dlq_record_parse(&r, value, len), 0);
    assert_string_equal(r.reason, "retry_window_expired");
    assert_string_equal(r.endpoint_id, "ep-1");
    assert_string_equal(r.delivery_id, dl->id);
    assert_int_equal(r.n_attempts, 2);
    assert_string_equal(r.last, "timeout");
    cmd_dlq_record_deinit(&r);
    free(value);
    delivery_destroy(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_event_with_nul_is_read_and_replayable),
        cmocka_unit_test(test_fields_printable),
        cmocka_unit_test(test_unreadable_says_why),
        cmocka_unit_test(test_raw_base64),
        cmocka_unit_test(test_delivery_dead_letter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
