/*
 * test_duration: duration_parse (the config file's "500ms", "30s", "1h30m")
 * and duration_format (the shortest exact one-unit form in delay-topic
 * names).  Pure functions: no setup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "duration.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

struct parse_case {
    const char *text;
    int64_t ms;
};

static void test_parse_valid(void **state)
{
    static const struct parse_case cases[] = {
        {"0s", 0},
        {"0ms", 0},
        {"1ms", 1},
        {"500ms", 500},
        {"1500ms", 1500},
        {"1s", SEC},
        {"30s", 30 * SEC},
        {"60s", MIN},
        {"90s", 90 * SEC},
        {"5m", 5 * MIN},
        {"2h", 2 * HOUR},
        {"1h30m", HOUR + 30 * MIN},
        {"1m30s", 90 * SEC},
        {"1m500ms", MIN + 500},
        {"30s1h", HOUR + 30 * SEC},
        {"7200s", 2 * HOUR},
        {"007s", 7 * SEC},
        {"2400h", 2400 * HOUR},
    };
    (void)state;

    for (size_t i = 0; i < WB_ARRAY_LEN(cases); i++) {
        char err[256] = "";
        int64_t ms = -1;
        int rc = duration_parse(cases[i].text, &ms, err, sizeof(err));
        if (rc != 0 || ms != cases[i].ms) {
            fail_msg("\"%s\": rc %d, %lld ms (expected %lld): %s", cases[i].text, rc, (long long)ms,
                     (long long)cases[i].ms, err);
        }
    }
}

static void test_parse_invalid(void **state)
{
    static const char *const cases[] = {
        "",                      /* empty */
        "10",                    /* no unit */
        "10x",                   /* unknown unit */
        "s",                     /* no number */
        "ms",                    /* no number */
        "-5s",                   /* negative */
        "+5s",                   /* sign */
        "1.5s",                  /* fraction */
        " 5s",                   /* spaces */
        "5s ",                   /* trailing space */
        "5 s",                   /* inner space */
        "5S",                    /* units are lower case */
        "2d",                    /* no days */
        "5m5",                   /* number without unit at the end */
        "5mss",                  /* garbage after a unit */
        "2401h",                 /* over 100 days */
        "99999999999999999999s", /* would overflow */
    };
    (void)state;

    for (size_t i = 0; i < WB_ARRAY_LEN(cases); i++) {
        char err[256] = "";
        int64_t ms = 12345;
        if (duration_parse(cases[i], &ms, err, sizeof(err)) == 0) {
            fail_msg("\"%s\" was accepted as %lld ms", cases[i], (long long)ms);
        }
        assert_int_equal(ms, 12345);
        assert_true(strlen(err) > 0);
    }
}

static void test_parse_messages(void **state)
{
    char err[256];
    int64_t ms;
    (void)state;

    assert_int_equal(duration_parse("soon", &ms, err, sizeof(err)), -1);
    assert_string_equal(err, "\"soon\" is not a duration (expected a number and a unit: ms, s, m, "
                             "h, e.g. \"30s\")");
    assert_int_equal(duration_parse("10", &ms, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no unit"));
    assert_int_equal(duration_parse("10x", &ms, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown unit"));
    /* A short buffer is truncated, never overrun. */
    char small[8];
    assert_int_equal(duration_parse("soon", &ms, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

struct format_case {
    int64_t ms;
    const char *text;
};

static void test_format(void **state)
{
    static const struct format_case cases[] = {
        {0, "0s"},
        {1, "1ms"},
        {500, "500ms"},
        {1500, "1500ms"},
        {SEC, "1s"},
        {30 * SEC, "30s"},
        {MIN, "1m"},
        {90 * SEC, "90s"},
        {5 * MIN, "5m"},
        {HOUR, "1h"},
        {HOUR + 30 * MIN, "90m"},
        {2 * HOUR, "2h"},
        {24 * HOUR, "24h"},
        {HOUR + 1, "3600001ms"},
    };
    (void)state;

    for (size_t i = 0; i < WB_ARRAY_LEN(cases); i++) {
        char buf[32];
        duration_format(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
    }
}

/* What parse reads, format writes back in a form that parses to the same
 * value: "60s" -> "1m", "7200s" -> "2h", "1500ms" stays. */
static void test_round_trip(void **state)
{
    static const struct parse_case cases[] = {
        {"60s", MIN},        {"7200s", 2 * HOUR}, {"1500ms", 1500}, {"90s", 90 * SEC},
        {"1h30m", 90 * MIN}, {"0s", 0},           {"500ms", 500},   {"120m", 2 * HOUR},
    };
    static const char *const formatted[] = {"1m",  "2h", "1500ms", "90s",
                                            "90m", "0s", "500ms",  "2h"};
    (void)state;

    for (size_t i = 0; i < WB_ARRAY_LEN(cases); i++) {
        char err[256], buf[32];
        int64_t ms, again;
        assert_int_equal(duration_parse(cases[i].text, &ms, err, sizeof(err)), 0);
        assert_int_equal(ms, cases[i].ms);
        duration_format(ms, buf, sizeof(buf));
        assert_string_equal(buf, formatted[i]);
        assert_int_equal(duration_parse(buf, &again, err, sizeof(err)), 0);
        assert_int_equal(again, ms);
    }
}

static void test_format_small_buffer(void **state)
{
    char buf[4];
    (void)state;

    memset(buf, 'x', sizeof(buf));
    duration_format(1500, buf, sizeof(buf));
    assert_string_equal(buf, "150");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),    cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_messages), cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_format_small_buffer),
    };
    return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
