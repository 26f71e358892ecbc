/*
 * test_util: UUIDs (the deliveryId of every delivery), RFC 3339 times (every
 * record's timestamps) and base64 (raw bytes of invalid events).  Pure
 * functions: no setup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Version 4, RFC 4122 variant, canonical lower-case form, and no repeats
 * over more than one pool refill (the random bytes come 4 KiB at a time). */
static void test_uuid4(void **state)
{
    (void)state;
    enum { N = 2000 };
    char(*ids)[UTIL_UUID_LEN] = calloc(N, UTIL_UUID_LEN);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        util_uuid4(ids[i]);
        assert_int_equal(strlen(ids[i]), 36);
        assert_true(util_is_uuid(ids[i]));
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
        for (const char *p = ids[i]; *p != '\0'; p++) {
            assert_non_null(strchr("0123456789abcdef-", *p));
        }
    }
    qsort(ids, N, UTIL_UUID_LEN, cmp_str);
    for (int i = 1; i < N; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    free(ids);
}

static void test_is_uuid(void **state)
{
    (void)state;
    assert_true(util_is_uuid("0b98ef2c-f739-45f1-81e3-b2def2bb868f"));
    assert_true(util_is_uuid("0B98EF2C-F739-45F1-81E3-B2DEF2BB868F"));
    assert_false(util_is_uuid("0b98ef2c-f739-45f1-81e3-b2def2bb868"));
    assert_false(util_is_uuid("0b98ef2c-f739-45f1-81e3-b2def2bb868f0"));
    assert_false(util_is_uuid("0b98ef2cf73945f181e3b2def2bb868f"));
    assert_false(util_is_uuid("0b98ef2c-f739-45f1-81e3_b2def2bb868f"));
    assert_false(util_is_uuid("0b98ef2c-f739-45f1-81e3-b2def2bb868g"));
    assert_false(util_is_uuid(""));
}

static void test_time_round_trip(void **state)
{
    (void)state;
    static const int64_t cases[] = {1, 1000, 1795869296123LL, 4102444799999LL};
    for (size_t i = 0; i < WB_ARRAY_LEN(cases); i++) {
        char buf[UTIL_TIME_LEN];
        int64_t back = 0;
        util_format_time(cases[i], buf, sizeof(buf));
        assert_int_equal(strlen(buf), 24);
        assert_int_equal(util_parse_time(buf, &back), 0);
        assert_int_equal(back, cases[i]);
    }
    char buf[UTIL_TIME_LEN];
    util_format_time(1795869296123LL, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-28T12:34:56.123Z");
}

static void test_parse_time_forms(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(util_parse_time("2026-11-22T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795341600000LL);
    assert_int_equal(util_parse_time("2026-11-22T11:00:00+01:00", &ms), 0);
    assert_int_equal(ms, 1795341600000LL);
    assert_int_equal(util_parse_time("2026-11-22T10:00:00.5Z", &ms), 0);
    assert_int_equal(ms, 1795341600500LL);
    assert_int_not_equal(util_parse_time("2026-11-22 10:00:00", &ms), 0);
    assert_int_not_equal(util_parse_time("yesterday", &ms), 0);
    assert_int_not_equal(util_parse_time("", &ms), 0);
}

/* Hostile forms: each is refused without reading past the string (the
 * short offsets read past the end under ASan before the parser was made
 * strict), and every time accepted can be written back (issue 11: a time
 * at or before 1970 was read, then written as null and refused). */
static void test_parse_time_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2026-11-22T10:00:00+1:2",  "2026-11-22T10:00:00+01",     "2026-11-22T10:00:00+",
        "2026-11-22T10:00:00+01:0", "2026-11-22T10:00:00.Z",      "2026-11-22T10:00:00",
        "2026-11-22T10:00:00Zx",    "2026-02-30T10:00:00Z",       "2026-13-01T10:00:00Z",
        "2026-11-22T24:00:00Z",     "2026-11-22T10:60:00Z",       " 2026-11-22T10:00:00Z",
        "+2026-11-22T10:00:00Z",    "1970-01-01T00:00:00Z",       "1969-12-31T23:59:59.999Z",
        "1960-01-01T00:00:00Z",     "10000-01-01T00:00:00Z",      "2026-11-22T10:00:00+24:00",
        "2026-1-22T10:00:00Z",      "2026-11-22T10:00:00.123+1:2"};
    for (size_t i = 0; i < WB_ARRAY_LEN(bad); i++) {
        /* An exact-size heap copy, so ASan sees any read past the end. */
        char *copy = strdup(bad[i]);
        int64_t ms = 0;
        assert_int_not_equal(util_parse_time(copy, &ms), 0);
        free(copy);
    }
    int64_t ms = 0;
    assert_int_equal(util_parse_time("1970-01-01T00:00:00.001Z", &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(util_parse_time("9999-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, UTIL_TIME_MAX_MS);
    assert_int_equal(util_parse_time("2026-11-22t10:00:00z", &ms), 0);
    assert_int_equal(util_parse_time("2024-02-29T00:00:00Z", &ms), 0); /* a leap year */
    assert_int_equal(util_parse_time("2016-12-31T23:59:60Z", &ms), 0); /* a leap second */
    assert_int_equal(ms, 1483228800000LL);
    /* Whatever parses, formats to a time that parses to the same value. */
    char buf[UTIL_TIME_LEN];
    int64_t back = 0;
    assert_int_equal(util_parse_time("1970-01-01T01:00:00+01:00:", &ms), -1);
    assert_int_equal(util_parse_time("1970-01-01T01:00:00.5+01:00", &ms), 0);
    util_format_time(ms, buf, sizeof(buf));
    assert_int_equal(util_parse_time(buf, &back), 0);
    assert_int_equal(back, ms);
}

/* Error texts go into JSON records: util_errf never leaves a character cut
 * in half, nor an invalid byte (the 5-byte event of issue 11 crashed the
 * bridge through a "%.64s"). */
static void test_errf_utf8(void **state)
{
    (void)state;
    char buf[8];
    util_errf(buf, sizeof(buf), "abcdef\xc3\xa9"); /* 7 bytes fit: the é is cut */
    assert_string_equal(buf, "abcdef");
    char big[64];
    util_errf(big, sizeof(big), "id \"%.3s\"", "ab\xc3\xa9"); /* %.3s splits é */
    assert_string_equal(big, "id \"ab?\"");
    util_errf(big, sizeof(big), "bad \xff\xfe bytes");
    assert_string_equal(big, "bad ?? bytes");
}

static void test_base64(void **state)
{
    (void)state;
    char *s = util_base64("\xff\xfe\x00x", 4);
    assert_string_equal(s, "//4AeA==");
    free(s);
    s = util_base64("", 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_parse_count(void **state)
{
    (void)state;
    assert_int_equal(util_parse_count("64", 1, 100), 64);
    assert_int_equal(util_parse_count("0", 0, 100), 0);
    assert_int_equal(util_parse_count("0", 1, 100), -1);
    assert_int_equal(util_parse_count("101", 1, 100), -1);
    assert_int_equal(util_parse_count("", 1, 100), -1);
    assert_int_equal(util_parse_count("12x", 1, 100), -1);
    assert_int_equal(util_parse_count("99999999999999999999", 1, 100), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid4),           cmocka_unit_test(test_is_uuid),
        cmocka_unit_test(test_time_round_trip), cmocka_unit_test(test_parse_time_forms),
        cmocka_unit_test(test_base64),          cmocka_unit_test(test_parse_time_hostile),
        cmocka_unit_test(test_errf_utf8),       cmocka_unit_test(test_parse_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
