/*
 * test_redact: outside values as they may appear in a log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
