/*
 * test_endpoint: the endpoints-topic record (DESIGN section 3) as
 * endpoint_from_json reads it and endpoint_to_json writes it: every field's
 * rule, the key/id agreement, secrets never quoted in a message and shown
 * only as fingerprints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint.h"

#define ACC "0b98ef2c-f739-45f1-81e3-b2def2bb868f"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static struct endpoint *parse(const char *key, const char *json, char *err, size_t size)
{
    err[0] = '\0';
    return endpoint_from_json(key, json, strlen(json), err, size);
}

static void test_full_record(void **state)
{
    (void)state;
    char err[512];
    struct endpoint *ep =
        parse("crm",
              "{\"id\":\"crm\",\"accountId\":\"" ACC "\",\"url\":\"https://hooks.example.com/r\","
              "\"eventTypes\":[\"Subscribe\",\"Unsubscribe\"],\"secrets\":[\"" SECRET "\"],"
              "\"enabled\":false,\"description\":\"CRM\",\"futureField\":{\"x\":1}}",
              err, sizeof(err));
    if (ep == NULL) {
        fail_msg("%s", err);
    }
    assert_string_equal(ep->id, "crm");
    assert_string_equal(ep->account_id, ACC);
    assert_string_equal(ep->url, "https://hooks.example.com/r");
    assert_int_equal(ep->n_event_types, 2);
    assert_string_equal(ep->event_types[1], "Unsubscribe");
    assert_int_equal(ep->n_secrets, 1);
    assert_false(ep->enabled);
    assert_string_equal(ep->description, "CRM");

    /* Written back with the secrets (to produce) or fingerprints (to show). */
    json_t *with = endpoint_to_json(ep, 1);
    char *text = json_dumps(with, JSON_COMPACT);
    struct endpoint *again = parse("crm", text, err, sizeof(err));
    assert_non_null(again);
    assert_string_equal(again->secrets[0], SECRET);
    assert_false(again->enabled);
    free(text);
    json_decref(with);
    endpoint_unref(again);
    json_t *shown = endpoint_to_json(ep, 0);
    text = json_dumps(shown, JSON_COMPACT);
    assert_null(strstr(text, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_non_null(strstr(text, "\"secretFingerprints\":[\"sha256:"));
    free(text);
    json_decref(shown);
    endpoint_unref(ep);
}

/* Defaults: enabled, no secrets, no description; the id may come from the
 * key alone, or from "id" alone when there is no key (the put command). */
static void test_defaults_and_id(void **state)
{
    (void)state;
    char err[512];
    struct endpoint *ep =
        parse("k1", "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}", err,
              sizeof(err));
    assert_non_null(ep);
    assert_string_equal(ep->id, "k1");
    assert_true(ep->enabled);
    assert_int_equal(ep->n_secrets, 0);
    assert_null(ep->description);
    endpoint_unref(ep);
    ep = parse(NULL,
               "{\"id\":\"x\",\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}",
               err, sizeof(err));
    assert_non_null(ep);
    assert_string_equal(ep->id, "x");
    endpoint_unref(ep);
}

struct bad {
    const char *key;
    const char *json;
    const char *why;
};

static void test_invalid_records(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        {"a", "not json", "not valid JSON"},
        {"a", "[1,2]", "must be a JSON object"},
        {"a", "{\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}", "\"accountId\" is missing"},
        {"a", "{\"accountId\":\"*\",\"eventTypes\":[\"*\"]}", "\"url\" is missing"},
        {"a", "{\"accountId\":\"*\",\"url\":\"http://h/\"}", "\"eventTypes\" is missing"},
        {NULL, "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}",
         "\"id\" is missing"},
        {"a", "{\"id\":\"b\",\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}",
         "not the record's key"},
        {"a b", "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}", "id:"},
        {"a", "{\"accountId\":\"nope\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}",
         "accountId: \"nope\" is not a UUID"},
        {"a", "{\"accountId\":7,\"url\":\"http://h/\",\"eventTypes\":[\"*\"]}",
         "\"accountId\" must be a string"},
        {"a", "{\"accountId\":\"*\",\"url\":\"ftp://h/\",\"eventTypes\":[\"*\"]}", "url:"},
        {"a", "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[]}",
         "\"eventTypes\" is empty"},
        {"a", "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\",\"Subscribe\"]}",
         "mixed with other event types"},
        {"a", "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"\"]}",
         "\"eventTypes\"[0]"},
        {"a", "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":\"Subscribe\"}",
         "must be a list of strings"},
        {"a",
         "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"],\"secrets\":"
         "[\"whsec_not base64 at all\"]}",
         "\"secrets\"[0]: secret is not valid base64"},
        {"a",
         "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"],\"secrets\":"
         "[\"plainpassword\"]}",
         "does not start with \"whsec_\""},
        {"a",
         "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"],\"enabled\":\"no\"}",
         "\"enabled\" must be true or false"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512];
        struct endpoint *ep = parse(bad[i].key, bad[i].json, err, sizeof(err));
        if (ep != NULL || strstr(err, bad[i].why) == NULL) {
            endpoint_unref(ep);
            fail_msg("%s: message \"%s\" (expected one with \"%s\")", bad[i].json, err, bad[i].why);
        }
        /* No message quotes a secret. */
        assert_null(strstr(err, "plainpassword"));
        assert_null(strstr(err, "not base64 at all"));
    }
}

/* Keys are bytes: only exactly an endpoint id passes, and a message shows
 * the key escaped, never a raw control byte. */
static void test_id_from_key(void **state)
{
    (void)state;
    char id[ENDPOINT_ID_MAX + 1], err[512], longkey[ENDPOINT_ID_MAX + 1];
    assert_int_equal(endpoint_id_from_key("tep", 3, id, err, sizeof(err)), 0);
    assert_string_equal(id, "tep");
    static const struct {
        const char *key;
        size_t len;
        const char *why;
    } bad[] = {
        {"tep\0evil", 8, "NUL byte at position 4"},
        {"tep\xff", 4, "not valid UTF-8"},
        {"tep\xe2\x82", 5, "not valid UTF-8"},
        {"tep\x1b[31m", 8, "\"tep\\x1b[31m\" has a character that is not allowed at position 4"},
        {"t\xc3\xa9p", 4, "\"t\\xc3\\xa9p\" has a character"},
        {"", 0, "no key"},
        {NULL, 0, "no key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(id, 'x', sizeof(id));
        err[0] = '\0';
        if (endpoint_id_from_key(bad[i].key, bad[i].len, id, err, sizeof(err)) == 0 ||
            strstr(err, bad[i].why) == NULL) {
            fail_msg("case %zu: \"%s\" (expected a refusal with \"%s\")", i, err, bad[i].why);
        }
        assert_string_equal(id, "");
        assert_null(strchr(err, 0x1b));
    }
    memset(longkey, 'a', sizeof(longkey));
    assert_int_equal(endpoint_id_from_key(longkey, ENDPOINT_ID_MAX, id, err, sizeof(err)), 0);
    assert_int_equal(endpoint_id_from_key(longkey, ENDPOINT_ID_MAX + 1, id, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "129 bytes long"));
}

/*
 * Issue 11: a malformed record's error names the JSON error's kind and
 * place, never the bytes there: jansson's own text ends "near '<token>'"
 * when the token is at most 20 bytes, which for a secret cut short is the
 * secret's start.
 */
#define REC "{\"accountId\":\"*\",\"url\":\"http://h/\",\"eventTypes\":[\"*\"],\"secrets\":"
static void test_json_error_hides_secret(void **state)
{
    (void)state;
    static const char *bad[] = {
        /* the secret's string never ends */
        REC "[\"whsec_SUPERSECRET",
        /* a control byte, a byte that is not UTF-8, a bad escape in it */
        REC "[\"whsec_SUPERSECRET\x01\"]}",
        REC "[\"whsec_SUPERSECRET\xff\"]}",
        REC "[\"whsec_SUPERSECRET\\q\"]}",
        /* a syntax error right after a whole secret */
        REC "[\"whsec_SUPERSECRETVALUEc2VjcmV0\" x]}",
        REC "[\"whsec_SUPERSECRETVALUEc2VjcmV0\"}",
        /* valid JSON, a bad secret: the field is named, not quoted */
        REC "[\"whsec_SUPERSECRETVALUE c2VjcmV0\"]}",
        REC "[\"SUPERSECRET\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512];
        struct endpoint *ep = parse("a", bad[i], err, sizeof(err));
        assert_null(ep);
        if (strstr(err, "SUPERSECRET") != NULL || strstr(err, "near") != NULL) {
            fail_msg("case %zu: the message quotes the record: %s", i, err);
        }
    }
    /* The kind and the place are still said. */
    char err[512];
    assert_null(parse("a", bad[0], err, sizeof(err)));
    assert_non_null(strstr(err, "not valid JSON: premature end of input at line 1, column"));
    assert_null(parse("a", bad[4], err, sizeof(err)));
    assert_non_null(strstr(err, "not valid JSON: invalid syntax at line 1, column"));
    assert_null(parse("a", bad[6], err, sizeof(err)));
    assert_non_null(strstr(err, "\"secrets\"[0]: secret is not valid base64"));
}
#undef REC

static void test_fingerprint(void **state)
{
    (void)state;
    char a[ENDPOINT_FINGERPRINT_LEN], b[ENDPOINT_FINGERPRINT_LEN], c[ENDPOINT_FINGERPRINT_LEN];
    endpoint_secret_fingerprint(SECRET, a);
    endpoint_secret_fingerprint(SECRET, b);
    endpoint_secret_fingerprint("whsec_c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seQ==", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), ENDPOINT_FINGERPRINT_LEN - 1);
    assert_int_equal(strncmp(a, "sha256:", 7), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_record),
        cmocka_unit_test(test_defaults_and_id),
        cmocka_unit_test(test_invalid_records),
        cmocka_unit_test(test_id_from_key),
        cmocka_unit_test(test_json_error_hides_secret),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
