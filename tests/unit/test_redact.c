/*
 * test_redact: outside values as they may appear in a log line: keys
 * escaped and bounded, URLs without userinfo, query or fragment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

static void expect_bytes(const char *data, size_t len, const char *want)
{
    char out[REDACT_BYTES_LEN];
    redact_bytes(data, len, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_bytes(void **state)
{
    (void)state;
    expect_bytes("tep", 3, "tep");
    expect_bytes("tep\0evil", 8, "tep\\x00evil");
    expect_bytes("a\\b\"c", 5, "a\\\\b\"c");
    expect_bytes("\x1b[31m\x7f\xff", 7, "\\x1b[31m\\x7f\\xff");
    expect_bytes("", 0, "");

    /* Bounded: the first REDACT_BYTES_SHOWN bytes, then the length. */
    char big[1000];
    memset(big, 0xff, sizeof(big));
    char out[REDACT_BYTES_LEN];
    redact_bytes(big, sizeof(big), out, sizeof(out));
    assert_int_equal(strncmp(out, "\\xff", 4), 0);
    assert_non_null(strstr(out, "...(1000 bytes)"));
    assert_int_equal(strlen(out), 4 * REDACT_BYTES_SHOWN + strlen("...(1000 bytes)"));

    /* A small buffer: terminated, never half an escape. */
    char small[7];
    redact_bytes("ab\x01\x02", 4, small, sizeof(small));
    assert_string_equal(small, "ab\\x01");
}

static void expect_url(const char *url, const char *want)
{
    char out[REDACT_URL_LEN];
    redact_url(url, out, sizeof(out));
    if (strcmp(out, want) != 0) {
        fail_msg("redact_url(%s) = \"%s\" (expected \"%s\")", url != NULL ? url : "NULL", out,
                 want);
    }
}

/* Scheme, host, port and path; never userinfo, query or fragment. */
static void test_url(void **state)
{
    (void)state;
    expect_url("https://hooks.example.com/webhook", "https://hooks.example.com/webhook");
    expect_url("https://user:pw@hooks.example.com/p", "https://hooks.example.com/p");
    expect_url("https://user@hooks.example.com/p", "https://hooks.example.com/p");
    expect_url("https://:pw@hooks.example.com/p", "https://hooks.example.com/p");
    expect_url("http://127.0.0.1:8080/h?token=SECRET123", "http://127.0.0.1:8080/h");
    expect_url("https://h.example/p#frag-SECRET", "https://h.example/p");
    expect_url("https://u:pw@h.example:8443/a/b?token=SECRET123&x=1#f",
               "https://h.example:8443/a/b");
    expect_url("http://[::1]:9000/a/b?k=v", "http://[::1]:9000/a/b");
    expect_url("http://[2001:db8::1]/", "http://[2001:db8::1]/");
    /* No path: libcurl's "/". */
    expect_url("https://hooks.example.com", "https://hooks.example.com/");
    expect_url("https://hooks.example.com?token=SECRET123", "https://hooks.example.com/");
    /* A scheme the bridge refuses is still shown, as the reason names it. */
    expect_url("ftp://u:pw@files.example/x?y", "ftp://files.example/x");
    /* Bytes that are not printable ASCII are escaped. */
    expect_url("https://h.example/caf\xc3\xa9", "https://h.example/caf%C3%A9");

    /* Unparsable: a placeholder, never the text. */
    expect_url("not a URL SECRET123", REDACT_URL_UNPARSABLE);
    expect_url("http://", REDACT_URL_UNPARSABLE);
    expect_url("", REDACT_URL_UNPARSABLE);
    expect_url("http://u:pw@[::1/", REDACT_URL_UNPARSABLE);
    expect_url(NULL, REDACT_URL_UNPARSABLE);

    /* Bounded: a long path is cut and says so. */
    char url[2100], out[REDACT_URL_LEN];
    snprintf(url, sizeof(url), "https://h.example/");
    memset(url + strlen(url), 'a', 2000);
    url[2018] = '\0';
    redact_url(url, out, sizeof(out));
    assert_int_equal(strlen(out), REDACT_URL_LEN - 1);
    assert_int_equal(strncmp(out, "https://h.example/aaa", 21), 0);
    assert_string_equal(out + strlen(out) - 3, "...");
    /* A small buffer: still terminated. */
    char small[12];
    redact_url("https://hooks.example.com/p", small, sizeof(small));
    assert_string_equal(small, "https://...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
