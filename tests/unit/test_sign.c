/*
 * test_sign: Standard Webhooks signing and verification.  The reference
 * vector is the one the specification's libraries test against (secret,
 * message id, timestamp, payload and the expected signature); the rest
 * checks rotation (several secrets), and every way verification must fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sign.h"

/* The secrets are char * in the API (as the endpoint holds them). */
#define SPEC_SECRET ((char *)"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS 1614265330
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define OTHER_SECRET ((char *)"whsec_c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seQ==")

static void test_spec_vector(void **state)
{
    (void)state;
    char *const secrets[] = {SPEC_SECRET};
    char err[256] = "";
    char *h =
        sign_header(secrets, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), err, sizeof(err));
    assert_non_null(h);
    assert_string_equal(h, SPEC_SIGNATURE);
    free(h);
}

static void test_key_decode(void **state)
{
    (void)state;
    unsigned char key[SIGN_KEY_MAX];
    char err[256] = "";
    assert_int_equal(sign_key_decode(SPEC_SECRET, key, err, sizeof(err)), 24);
    assert_int_equal(sign_key_decode(OTHER_SECRET, key, err, sizeof(err)), 28);

    static const char *const bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* no prefix */
        "whsec_",                           /* no key */
        "whsec_abc",                        /* not a multiple of 4 */
        "whsec_ab!d",                       /* not base64 */
        "whsec_====",                       /* only padding */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(sign_key_decode(bad[i], key, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "expected"));
        /* The message never quotes the secret. */
        if (strlen(bad[i]) > 7) {
            assert_null(strstr(err, bad[i] + 6));
        }
    }
}

/* Two secrets (rotation): two entries, each verifies with its secret. */
static void test_rotation(void **state)
{
    (void)state;
    char *const both[] = {SPEC_SECRET, OTHER_SECRET};
    char *const old_only[] = {SPEC_SECRET};
    char *const new_only[] = {OTHER_SECRET};
    char err[256] = "";
    char *h =
        sign_header(both, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(strncmp(h, SPEC_SIGNATURE " v1,", strlen(SPEC_SIGNATURE) + 4), 0);
    assert_int_equal(strlen(h), 2 * 47 + 1);
    assert_int_equal(sign_verify(old_only, 1, SPEC_ID, "1614265330", h, SPEC_BODY,
                                 strlen(SPEC_BODY), SPEC_TS, err, sizeof(err)),
                     0);
    assert_int_equal(sign_verify(new_only, 1, SPEC_ID, "1614265330", h, SPEC_BODY,
                                 strlen(SPEC_BODY), SPEC_TS, err, sizeof(err)),
                     0);
    free(h);
}

static void test_verify_spec(void **state)
{
    (void)state;
    char *const secrets[] = {SPEC_SECRET};
    char err[256] = "";
    /* Within the 5-minute tolerance either way. */
    assert_int_equal(sign_verify(secrets, 1, SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY,
                                 strlen(SPEC_BODY), SPEC_TS + 299, err, sizeof(err)),
                     0);
    assert_int_equal(sign_verify(secrets, 1, SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY,
                                 strlen(SPEC_BODY), SPEC_TS - 299, err, sizeof(err)),
                     0);
    /* Other entries (unknown versions, bad ones) around the good one. */
    assert_int_equal(sign_verify(secrets, 1, SPEC_ID, "1614265330",
                                 "v1a,xyz v1,bm9wZQ== " SPEC_SIGNATURE, SPEC_BODY,
                                 strlen(SPEC_BODY), SPEC_TS, err, sizeof(err)),
                     0);
}

struct bad_case {
    const char *name;
    const char *id;
    const char *ts;
    const char *sig;
    const char *body;
    int64_t now;
    const char *why; /* in the message */
};

static void test_verify_failures(void **state)
{
    (void)state;
    char *const secrets[] = {SPEC_SECRET};
    char *const wrong[] = {OTHER_SECRET};
    static const struct bad_case cases[] = {
        {"body changed", SPEC_ID, "1614265330", SPEC_SIGNATURE, "{\"test\": 2432232315}", SPEC_TS,
         "no v1 signature matches"},
        {"id changed", "msg_other", "1614265330", SPEC_SIGNATURE, SPEC_BODY, SPEC_TS,
         "no v1 signature matches"},
        {"timestamp changed", SPEC_ID, "1614265331", SPEC_SIGNATURE, SPEC_BODY, SPEC_TS,
         "no v1 signature matches"},
        {"too old", SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY, SPEC_TS + 301, "too old"},
        {"too new", SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY, SPEC_TS - 301, "too new"},
        {"timestamp not a number", SPEC_ID, "1614265330.5", SPEC_SIGNATURE, SPEC_BODY, SPEC_TS,
         "not a number"},
        {"no timestamp", SPEC_ID, NULL, SPEC_SIGNATURE, SPEC_BODY, SPEC_TS, "missing"},
        {"no id", NULL, "1614265330", SPEC_SIGNATURE, SPEC_BODY, SPEC_TS, "webhook-id"},
        {"no signature", SPEC_ID, "1614265330", NULL, SPEC_BODY, SPEC_TS, "webhook-signature"},
        {"other scheme", SPEC_ID, "1614265330", "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
         SPEC_BODY, SPEC_TS, "no v1 signature matches"},
        {"truncated", SPEC_ID, "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
         SPEC_BODY, SPEC_TS, "no v1 signature matches"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        char err[256] = "";
        int rc = sign_verify(secrets, 1, c->id, c->ts, c->sig, c->body, strlen(c->body), c->now,
                             err, sizeof(err));
        if (rc != -1 || strstr(err, c->why) == NULL) {
            fail_msg("%s: rc %d, message \"%s\" (expected one with \"%s\")", c->name, rc, err,
                     c->why);
        }
    }
    char err[256] = "";
    assert_int_equal(sign_verify(wrong, 1, SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY,
                                 strlen(SPEC_BODY), SPEC_TS, err, sizeof(err)),
                     -1);
}

/* An empty body and a large one sign and verify (the body is fed to the
 * HMAC as it is, never copied or truncated). */
static void test_bodies(void **state)
{
    (void)state;
    char *const secrets[] = {SPEC_SECRET};
    char err[256] = "";
    size_t big_len = 1024 * 1024;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 'x', big_len);
    char *h = sign_header(secrets, 1, SPEC_ID, SPEC_TS, big, big_len, err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(
        sign_verify(secrets, 1, SPEC_ID, "1614265330", h, big, big_len, SPEC_TS, err, sizeof(err)),
        0);
    big[big_len - 1] = 'y';
    assert_int_equal(
        sign_verify(secrets, 1, SPEC_ID, "1614265330", h, big, big_len, SPEC_TS, err, sizeof(err)),
        -1);
    free(h);
    free(big);
    h = sign_header(secrets, 1, SPEC_ID, SPEC_TS, "", 0, err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(
        sign_verify(secrets, 1, SPEC_ID, "1614265330", h, "", 0, SPEC_TS, err, sizeof(err)), 0);
    free(h);
}

static void test_header_bad_secret(void **state)
{
    (void)state;
    char *const secrets[] = {SPEC_SECRET, (char *)"whsec_not base64"};
    char err[256] = "";
    assert_null(
        sign_header(secrets, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), err, sizeof(err)));
    assert_non_null(strstr(err, "base64"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),       cmocka_unit_test(test_key_decode),
        cmocka_unit_test(test_rotation),          cmocka_unit_test(test_verify_spec),
        cmocka_unit_test(test_verify_failures),   cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_header_bad_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
