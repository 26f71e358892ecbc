/*
 * Unit tests for jsonscan.c: every input below is judged twice, by the
 * scanner and by jansson (json_loadb with JSON_DECODE_ANY), and the two
 * verdicts must match the expected one written here: jansson's quirks
 * (the NUL after a number, duplicate keys, the int64 and double limits,
 * the depth of 2048) are spelled out, so that a jansson upgrade that
 * changes them shows up here too.  Then the fields: last key wins, escaped
 * keys match, values are decoded and cut at the buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonscan.h"

struct verdict_case {
    const char *text;
    size_t len;
    int ok;
};

/* sizeof, not strlen: some inputs hold NUL bytes */
#define OK(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1, 1                                                                        \
    }
#define BAD(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1, 0                                                                        \
    }

static const struct verdict_case cases[] = {
    OK("{}"),
    OK(" {\"a\" : [1, -0, 2.5e-3, true, false, null, \"x\"]}\r\n\t"),
    OK("[]"),
    OK("1"),
    OK("\"s\""),
    OK("null"),
    BAD(""),
    BAD("   "),
    BAD("{"),
    BAD("{\"a\"}"),
    BAD("{\"a\":}"),
    BAD("{\"a\":1,}"),
    BAD("[1,]"),
    BAD("[,1]"),
    BAD("{,}"),
    BAD("{1:2}"),
    BAD("{\"a\":1 \"b\":2}"),
    BAD("{}}"),
    BAD("{} {}"),
    BAD("[1]]"),
    BAD("[1}"),
    BAD("{\"a\":1]"),
    BAD("\xef\xbb\xbf{}"), /* a byte order mark */
    /* numbers */
    BAD("01"),
    BAD("-"),
    BAD("-a"),
    BAD("1."),
    BAD("1.e5"),
    BAD(".5"),
    BAD("1e"),
    BAD("1e+"),
    BAD("+1"),
    BAD("[1.5.3]"),
    BAD("[1-2]"),
    OK("-0.0e+0"),
    OK("9223372036854775807"),
    BAD("9223372036854775808"),
    OK("-9223372036854775808"),
    BAD("-9223372036854775809"),
    BAD("12345678901234567890"),
    OK("1e308"),
    BAD("1e309"),
    BAD("-1e309"),
    OK("1e-400"), /* underflow is accepted */
    OK("0.00000000000000000000000000000001e330"),
    /* literals */
    BAD("tru"),
    BAD("trueee"),
    BAD("[true1]"),
    BAD("NULL"),
    BAD("nan"),
    /* the NUL jansson reads past: one, right after a number or literal */
    OK("[1\0]"),
    OK("[true\0]"),
    OK("{\"a\":3\0,\"b\":null\0}"),
    OK("1\0"),
    BAD("[1\0\0]"),
    BAD("[1 \0]"),
    BAD("[\"a\"\0]"),
    BAD("{}\0"),
    BAD("[1,\0 2]"),
    BAD("[\0 1]"),
    /* strings */
    OK("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\""),
    BAD("\"\\a\""),
    BAD("\"\\u12\""),
    BAD("\"\\u12g4\""),
    BAD("\"\\ud800\""),
    BAD("\"\\ud800\\n\""),
    BAD("\"\\ud800\\u0041\""),
    BAD("\"\\udc00\""),
    BAD("\"\\u0000\""),
    BAD("{\"\\u0000\":1}"),
    BAD("\"a\0b\""),
    BAD("\"tab\tinside\""),
    BAD("\"new\nline\""),
    OK("\"del \x7f ok\""),
    BAD("\"unterminated"),
    BAD("\"\\"),
    /* UTF-8 */
    OK("\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\""),
    BAD("\"\xc0\xaf\""),         /* overlong */
    BAD("\"\xe0\x80\xaf\""),     /* overlong */
    BAD("\"\xf0\x80\x80\xaf\""), /* overlong */
    BAD("\"\xed\xa0\x80\""),     /* a surrogate */
    BAD("\"\xf4\x90\x80\x80\""), /* above U+10FFFF */
    BAD("\"\xf5\x80\x80\x80\""),
    BAD("\"\x80\""),
    BAD("\"\xc3\""),
    BAD("\"\xc3(\""),
    BAD("\xc3\xa9"),
    BAD("[1\xff]"),
    /* duplicates are accepted */
    OK("{\"a\":1,\"a\":{\"b\":2},\"a\":[3]}"),
};

static void test_verdicts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct verdict_case *c = &cases[i];
        enum jsonscan_type root;
        int scan_ok = jsonscan(c->text, c->len, &root, NULL, 0) == 0;
        json_t *doc = json_loadb(c->text, c->len, JSON_DECODE_ANY, NULL);
        if (scan_ok != c->ok || (doc != NULL) != c->ok) {
            print_error("case %zu \"%.*s\": expected %s, jsonscan %s, jansson %s\n", i, (int)c->len,
                        c->text, c->ok ? "ok" : "refused", scan_ok ? "ok" : "refused",
                        doc != NULL ? "ok" : "refused");
            fail();
        }
        json_decref(doc);
    }
}

/* n nested arrays around a 1 (scalar) or around nothing. */
static char *nested(int n, int scalar, size_t *len)
{
    char *s = malloc((size_t)n * 2 + 2);
    assert_non_null(s);
    memset(s, '[', (size_t)n);
    size_t k = (size_t)n;
    if (scalar) {
        s[k++] = '1';
    }
    memset(s + k, ']', (size_t)n);
    *len = k + (size_t)n;
    return s;
}

/* jansson counts a scalar's level too: 2048 arrays are fine, a 1 inside
 * 2048 arrays is one too deep. */
static void test_depth(void **state)
{
    (void)state;
    static const struct {
        int n, scalar, ok;
    } d[] = {{2048, 0, 1}, {2049, 0, 0}, {2047, 1, 1}, {2048, 1, 0}, {100000, 0, 0}};
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        size_t len;
        char *s = nested(d[i].n, d[i].scalar, &len);
        enum jsonscan_type root;
        json_t *doc = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        assert_int_equal(doc != NULL, d[i].ok);
        assert_int_equal(jsonscan(s, len, &root, NULL, 0) == 0, d[i].ok);
        if (d[i].ok) {
            assert_int_equal(root, JSONSCAN_ARRAY);
        }
        json_decref(doc);
        free(s);
    }
}

static void test_root_type(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum jsonscan_type t;
    } r[] = {{"{}", JSONSCAN_OBJECT},   {"[{}]", JSONSCAN_ARRAY}, {"\"x\"", JSONSCAN_STRING},
             {"-1.5", JSONSCAN_NUMBER}, {"false", JSONSCAN_BOOL}, {" null ", JSONSCAN_NULL}};
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        enum jsonscan_type root = JSONSCAN_MISSING;
        assert_int_equal(jsonscan(r[i].text, strlen(r[i].text), &root, NULL, 0), 0);
        assert_int_equal(root, r[i].t);
    }
}

struct fields {
    char id[16], type[8], sub[16];
    char det;
    struct jsonscan_field f[4];
};

static int scan_fields(const char *text, struct fields *x)
{
    struct jsonscan_field f[4] = {
        {"id", NULL, x->id, sizeof(x->id), 0, 0},
        {"type", NULL, x->type, sizeof(x->type), 0, 0},
        {"d", NULL, &x->det, 1, 0, 0},
        {"d", "sub", x->sub, sizeof(x->sub), 0, 0},
    };
    memcpy(x->f, f, sizeof(f));
    enum jsonscan_type root;
    return jsonscan(text, strlen(text), &root, x->f, 4);
}

static void test_fields(void **state)
{
    (void)state;
    struct fields x;
    assert_int_equal(scan_fields("{\"id\":\"a\\u00e9\\/b\",\"type\":5,\"d\":{\"sub\":\"s\"}}", &x),
                     0);
    assert_int_equal(x.f[0].type, JSONSCAN_STRING);
    assert_string_equal(x.id, "a\xc3\xa9/b");
    assert_int_equal(x.f[0].len, 5);
    assert_int_equal(x.f[1].type, JSONSCAN_NUMBER);
    assert_int_equal(x.f[2].type, JSONSCAN_OBJECT);
    assert_int_equal(x.f[3].type, JSONSCAN_STRING);
    assert_string_equal(x.sub, "s");

    /* absent, and a subkey under a non-object */
    assert_int_equal(scan_fields("{\"d\":[{\"sub\":\"s\"}],\"x\":{\"id\":\"no\"}}", &x), 0);
    assert_int_equal(x.f[0].type, JSONSCAN_MISSING);
    assert_int_equal(x.f[1].type, JSONSCAN_MISSING);
    assert_int_equal(x.f[2].type, JSONSCAN_ARRAY);
    assert_int_equal(x.f[3].type, JSONSCAN_MISSING);

    /* only a direct member counts, not one deeper */
    assert_int_equal(scan_fields("{\"d\":{\"e\":{\"sub\":\"deep\"}}}", &x), 0);
    assert_int_equal(x.f[3].type, JSONSCAN_MISSING);

    /* escaped keys are keys */
    assert_int_equal(scan_fields("{\"\\u0069d\":\"esc\",\"t\\u0079pe\":null}", &x), 0);
    assert_string_equal(x.id, "esc");
    assert_int_equal(x.f[1].type, JSONSCAN_NULL);
}

/* As json_object_get: the last of repeated keys counts, a repeated parent
 * object starts its subkeys over. */
static void test_last_key_wins(void **state)
{
    (void)state;
    struct fields x;
    assert_int_equal(scan_fields("{\"id\":\"first\",\"id\":\"second\"}", &x), 0);
    assert_string_equal(x.id, "second");
    assert_int_equal(scan_fields("{\"id\":\"first\",\"id\":true}", &x), 0);
    assert_int_equal(x.f[0].type, JSONSCAN_BOOL);
    assert_int_equal(x.f[0].len, 0);
    assert_string_equal(x.id, "");
    assert_int_equal(scan_fields("{\"d\":{\"sub\":\"a\",\"sub\":\"b\"}}", &x), 0);
    assert_string_equal(x.sub, "b");
    assert_int_equal(scan_fields("{\"d\":{\"sub\":\"a\"},\"d\":{\"other\":1}}", &x), 0);
    assert_int_equal(x.f[3].type, JSONSCAN_MISSING);
    assert_int_equal(scan_fields("{\"d\":{\"sub\":\"a\"},\"d\":7}", &x), 0);
    assert_int_equal(x.f[2].type, JSONSCAN_NUMBER);
    assert_int_equal(x.f[3].type, JSONSCAN_MISSING);
    assert_int_equal(x.f[3].len, 0);
}

/* A value longer than its buffer is cut there, its length told whole. */
static void test_cut(void **state)
{
    (void)state;
    struct fields x;
    assert_int_equal(scan_fields("{\"type\":\"Subscribe\\u00e9\"}", &x), 0);
    assert_int_equal(x.f[1].len, 11);
    assert_string_equal(x.type, "Subscri");
    assert_int_equal(scan_fields("{\"d\":{\"sub\":\"\"}}", &x), 0);
    assert_int_equal(x.f[3].type, JSONSCAN_STRING);
    assert_int_equal(x.f[3].len, 0);
    assert_string_equal(x.sub, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),      cmocka_unit_test(test_depth),
        cmocka_unit_test(test_root_type),     cmocka_unit_test(test_fields),
        cmocka_unit_test(test_last_key_wins), cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
