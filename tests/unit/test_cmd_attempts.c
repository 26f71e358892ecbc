/*
 * test_cmd_attempts: how `attempts` reads an attempt record
 * (cmd_attempts_record_parse).  A response holding a NUL byte is written
 * by the bridge (attempts_record) with \u0000 and was skipped silently;
 * it must be read, shown printable and measured whole.  Pure: no cluster.
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
#include "cmd_attempts.h"
#include "delivery.h"

static void test_response_with_nul_is_read(void **state)
{
    static const char body[] = "{\"a\":1}";
    static const char answer[] = "try later\0\x1b[2J";
    struct payload *p = payload_new(body, sizeof(body) - 1);
    struct delivery *dl =
        delivery_new("0f1d5918-052d-4915-89a7-8cc9c4d33492", "Subscribe",
                     "0b98ef2c-f739-45f1-81e3-b2def2bb868f", "ep-1", "https://example.com/h", p);
    struct cmd_attempts_record r;
    size_t len = 0;
    (void)state;

    payload_unref(p);
    struct attempt *a = delivery_add_attempt(dl, 1795000000123, 87, 503, NULL);
    delivery_set_response(a, answer, sizeof(answer) - 1);
    char *value = attempts_record(dl, &len);
    assert_non_null(value);
    assert_non_null(strstr(value, "\\u0000"));
    assert_int_equal(cmd_attempts_record_parse(&r, value, len), 0);
    assert_non_null(r.rec);
    assert_string_equal(r.endpoint_id, "ep-1");
    assert_string_equal(r.endpoint_url, "https://example.com/h");
    assert_string_equal(r.at, "2026-11-18T11:06:40.123Z");
    assert_int_equal(r.attempt, 1);
    assert_int_equal(r.duration_ms, 87);
    assert_string_equal(r.result, "503");
    assert_int_equal(r.response_len, sizeof(answer) - 1);
    assert_string_equal(r.response, "try later??[2J");
    cmd_attempts_record_deinit(&r);
    free(value);
    delivery_destroy(dl);
}

static void test_error_and_binary(void **state)
{
    static const char value[] = "{\"endpointId\":\"e\\u0000p\",\"attempt\":2,\"status\":null,"
                                "\"error\":\"connect: refused\",\"response\":null,"
                                "\"responseBase64\":\"/wD/\"}";
    struct cmd_attempts_record r;
    (void)state;

    assert_int_equal(cmd_attempts_record_parse(&r, value, sizeof(value) - 1), 0);
    assert_string_equal(r.endpoint_id, "e?p");
    assert_string_equal(r.result, "connect: refused");
    assert_string_equal(r.at, "-");
    assert_null(r.response);
    assert_true(r.response_binary);
    cmd_attempts_record_deinit(&r);
}

static void test_unreadable_says_why(void **state)
{
    static const char *values[] = {"{\"attempt\":", "\"x\"", ""};
    (void)state;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct cmd_attempts_record r;
        assert_int_equal(cmd_attempts_record_parse(&r, values[i], strlen(values[i])), -1);
        assert_null(r.rec);
        assert_true(r.why[0] != '\0');
        cmd_attempts_record_deinit(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_with_nul_is_read),
        cmocka_unit_test(test_error_and_binary),
        cmocka_unit_test(test_unreadable_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
