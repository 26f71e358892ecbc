/*
 * test_utf8: the text every JSON record and log line is made of.  jansson
 * is the judge of validity: whatever utf8_json returns must be a string
 * jansson accepted, and utf8_valid must agree with json_stringn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

struct sample {
    const char *bytes;
    size_t len;
};

#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

static const struct sample samples[] = {
    S(""),
    S("plain ascii"),
    S("\"\\\xc3\xa9\""), /* the 5-byte event of issue 11 */
    S("caf\xc3\xa9"),
    S("\xe2\x82\xac euro"),
    S("\xf0\x9f\x98\x80 emoji"),
    S("nul\0inside"),
    S("\xc3"),             /* cut 2-byte */
    S("\xe2\x82"),         /* cut 3-byte */
    S("\xf0\x9f\x98"),     /* cut 4-byte */
    S("\xc0\xaf"),         /* overlong '/' */
    S("\xe0\x80\xaf"),     /* overlong 3-byte */
    S("\xf0\x80\x80\xaf"), /* overlong 4-byte */
    S("\xed\xa0\x80"),     /* surrogate D800 */
    S("\xf4\x90\x80\x80"), /* above U+10FFFF */
    S("\xf5\x80\x80\x80"),
    S("\xff\xfe"),
    S("\x80 lone continuation"),
    S("ok\xc3\xa9\xa9 extra continuation"),
};

static void test_valid_agrees_with_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < WB_ARRAY_LEN(samples); i++) {
        json_t *j = json_stringn(samples[i].bytes, samples[i].len);
        assert_int_equal(utf8_valid(samples[i].bytes, samples[i].len), j != NULL);
        json_decref(j);
    }
}

/* utf8_json never fails, never exceeds max, keeps valid text unchanged. */
static void test_json_always_builds(void **state)
{
    (void)state;
    for (size_t i = 0; i < WB_ARRAY_LEN(samples); i++) {
        for (size_t max = 0; max <= samples[i].len + 2; max++) {
            json_t *j = utf8_json(samples[i].bytes, samples[i].len, max);
            assert_non_null(j);
            assert_true(json_is_string(j));
            assert_true(json_string_length(j) <= max);
            if (max >= samples[i].len && utf8_valid(samples[i].bytes, samples[i].len)) {
                assert_int_equal(json_string_length(j), samples[i].len);
                assert_memory_equal(json_string_value(j), samples[i].bytes, samples[i].len);
            }
            char *dump = json_dumps(j, JSON_ENCODE_ANY);
            assert_non_null(dump);
            free(dump);
            json_decref(j);
        }
    }
    json_t *j = utf8_json("\xff", 1, 16);
    assert_string_equal(json_string_value(j), "\xef\xbf\xbd");
    json_decref(j);
    j = utf8_json_or_null(NULL, 16);
    assert_true(json_is_null(j));
    json_decref(j);
}

static void test_cut(void **state)
{
    (void)state;
    const char *s = "ab\xe2\x82\xac"; /* "ab€" */
    assert_int_equal(utf8_cut(s, 5, 5), 5);
    assert_int_equal(utf8_cut(s, 5, 4), 2);
    assert_int_equal(utf8_cut(s, 5, 3), 2);
    assert_int_equal(utf8_cut(s, 5, 2), 2);
    assert_int_equal(utf8_cut(s, 5, 0), 0);
    /* Invalid text: a run of continuation bytes may be cut anywhere. */
    assert_int_equal(utf8_cut("a\x80\x80\x80\x80\x80", 6, 5), 5);
}

static void test_repair(void **state)
{
    (void)state;
    char a[] = "near '\"\\\xc3"; /* jansson's context, cut inside é */
    utf8_repair(a);
    assert_string_equal(a, "near '\"\\");
    char b[] = "x\xff\xc3\xa9y\xc0\xaf";
    utf8_repair(b);
    assert_string_equal(b, "x?\xc3\xa9y??");
    char c[] = "\xed\xa0\x80";
    utf8_repair(c);
    assert_true(utf8_valid(c, strlen(c)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_agrees_with_jansson),
        cmocka_unit_test(test_json_always_builds),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
