/*
 * Unit tests for registry.c and endpoint.c's matching rule (DESIGN section
 * 3: an endpoint matches when enabled, its accountId is the event's or "*",
 * and the event type is listed or the list is ["*"]).  The routing matrix
 * checks the exact set of endpoints for every (account, type) pair; then
 * replacement, lookup, truncated output and a 100,000-endpoint registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "registry.h"
#include "regsync.h"

#define ACC_A "0b98ef2c-f739-45f1-81e3-b2def2bb868f"
#define ACC_B "6513319e-d3e1-4497-89ee-b5dcee9a58bc"
#define ACC_C "4a2d4acb-bd05-e511-af43-067f1c947754"

/* types: a comma-separated list ("" for none). */
static struct endpoint *make_ep(const char *id, const char *account, const char *types, int enabled)
{
    struct endpoint *ep = endpoint_new();
    ep->id = xstrdup(id);
    ep->account_id = xstrdup(account);
    char url[256];
    snprintf(url, sizeof(url), "https://hooks.example.com/%s", id);
    ep->url = xstrdup(url);
    ep->enabled = enabled != 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", types);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        endpoint_add_event_type(ep, t);
    }
    endpoint_add_secret(ep, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    return ep;
}

/* An endpoints-topic record for ep's id. */
static enum registry_change put(struct registry *r, struct endpoint *ep)
{
    return registry_apply(r, ep->id, ep);
}

/* The account of the endpoint with this id (the reference is dropped). */
static void expect_account(const struct registry *r, const char *id, const char *account)
{
    struct endpoint *ep = registry_get(r, id);
    assert_non_null(ep);
    assert_string_equal(ep->account_id, account);
    endpoint_unref(ep);
}

static void unref_all(struct endpoint **eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        endpoint_unref(eps[i]);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted, space-separated ids matching (account, type), into buf. */
static size_t match_ids(const struct registry *r, const char *account, const char *type, char *buf,
                        size_t size)
{
    struct endpoint *out[64];
    size_t n = registry_match(r, account, type, out, 64);
    assert_true(n <= 64);
    const char *ids[64] = {NULL};
    for (size_t i = 0; i < n; i++) {
        assert_non_null(out[i]);
        /* Every endpoint returned really matches. */
        assert_true(endpoint_matches(out[i], account, type));
        ids[i] = out[i]->id;
    }
    qsort(ids, n, sizeof(ids[0]), cmp_str);
    buf[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i > 0 ? " " : "", ids[i]);
    }
    unref_all(out, n);
    return n;
}

static void expect_ids(const struct registry *r, const char *account, const char *type,
                       const char *want)
{
    char got[1024];
    (void)match_ids(r, account, type, got, sizeof(got));
    if (strcmp(got, want) != 0) {
        print_error("(%s, %s): got \"%s\", want \"%s\"\n", account, type, got, want);
    }
    assert_string_equal(got, want);
}

static struct registry *matrix_registry(void)
{
    struct registry *r = registry_new();
    put(r, make_ep("a-sub", ACC_A, "Subscribe", 1));
    put(r, make_ep("a-both", ACC_A, "Subscribe,Unsubscribe", 1));
    put(r, make_ep("a-star", ACC_A, "*", 1));
    put(r, make_ep("any-unsub", "*", "Unsubscribe", 1));
    put(r, make_ep("b-sub", ACC_B, "Subscribe", 1));
    put(r, make_ep("a-disabled", ACC_A, "*", 0));
    put(r, make_ep("a-none", ACC_A, "", 1)); /* no types: wants nothing */
    return r;
}

static void test_routing_matrix(void **state)
{
    (void)state;
    struct registry *r = matrix_registry();
    assert_int_equal(registry_size(r), 7);
    static const struct {
        const char *account;
        const char *type;
        const char *want;
    } m[] = {
        {ACC_A, "Subscribe", "a-both a-star a-sub"},
        {ACC_A, "Unsubscribe", "a-both a-star any-unsub"},
        {ACC_A, "FutureType", "a-star"},
        {ACC_B, "Subscribe", "b-sub"},
        {ACC_B, "Unsubscribe", "any-unsub"},
        {ACC_B, "FutureType", ""},
        {ACC_C, "Subscribe", ""},
        {ACC_C, "Unsubscribe", "any-unsub"},
        {ACC_C, "FutureType", ""},
        /* Types are compared exactly. */
        {ACC_A, "subscribe", "a-star"},
        {ACC_A, "Subscribe ", "a-star"},
        {ACC_B, "subscribe", ""},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        expect_ids(r, m[i].account, m[i].type, m[i].want);
    }
    registry_destroy(r);
}

static void test_endpoint_matches_rule(void **state)
{
    (void)state;
    struct endpoint *ep = make_ep("x", ACC_A, "Subscribe,Unsubscribe", 1);
    assert_true(endpoint_matches(ep, ACC_A, "Subscribe"));
    assert_true(endpoint_matches(ep, ACC_A, "Unsubscribe"));
    assert_false(endpoint_matches(ep, ACC_A, "Other"));
    assert_false(endpoint_matches(ep, ACC_B, "Subscribe"));
    assert_false(endpoint_matches(ep, NULL, "Subscribe"));
    assert_false(endpoint_matches(ep, ACC_A, NULL));
    ep->enabled = false;
    assert_false(endpoint_matches(ep, ACC_A, "Subscribe"));
    endpoint_unref(ep);

    ep = make_ep("y", "*", "*", 1);
    assert_true(endpoint_matches(ep, ACC_C, "Anything"));
    assert_true(endpoint_matches(ep, ACC_B, "Subscribe"));
    struct endpoint *copy = endpoint_dup(ep);
    endpoint_unref(ep);
    assert_true(endpoint_matches(copy, ACC_C, "Anything")); /* a deep copy */
    assert_string_equal(copy->id, "y");
    assert_int_equal(copy->n_secrets, 1);
    endpoint_unref(copy);
}

static void test_put_replaces(void **state)
{
    (void)state;
    struct registry *r = matrix_registry();

    /* a-sub moves from A to B, same types. */
    put(r, make_ep("a-sub", ACC_B, "Subscribe", 1));
    assert_int_equal(registry_size(r), 7);
    expect_account(r, "a-sub", ACC_B);
    expect_ids(r, ACC_A, "Subscribe", "a-both a-star");
    expect_ids(r, ACC_B, "Subscribe", "a-sub b-sub");

    /* any-unsub stops being "*": it leaves every other account. */
    put(r, make_ep("any-unsub", ACC_C, "Unsubscribe", 1));
    expect_ids(r, ACC_A, "Unsubscribe", "a-both a-star");
    expect_ids(r, ACC_B, "Unsubscribe", "");
    expect_ids(r, ACC_C, "Unsubscribe", "any-unsub");

    /* ... and back to "*". */
    put(r, make_ep("any-unsub", "*", "Unsubscribe", 1));
    expect_ids(r, ACC_B, "Unsubscribe", "any-unsub");
    expect_ids(r, ACC_C, "Unsubscribe", "any-unsub");

    /* Same account, new types; disabling; enabling. */
    put(r, make_ep("b-sub", ACC_B, "Unsubscribe", 1));
    expect_ids(r, ACC_B, "Subscribe", "a-sub");
    expect_ids(r, ACC_B, "Unsubscribe", "any-unsub b-sub");
    put(r, make_ep("a-star", ACC_A, "*", 0));
    expect_ids(r, ACC_A, "FutureType", "");
    put(r, make_ep("a-disabled", ACC_A, "*", 1));
    expect_ids(r, ACC_A, "FutureType", "a-disabled");

    /* Replacing many times leaves one copy (no duplicates in the lists). */
    for (int i = 0; i < 50; i++) {
        put(r, make_ep("a-both", i % 2 ? ACC_A : ACC_C, "Subscribe,Unsubscribe", 1));
    }
    expect_ids(r, ACC_A, "Subscribe", "a-both a-disabled");
    expect_ids(r, ACC_C, "Subscribe", "");
    put(r, make_ep("a-both", ACC_C, "Subscribe", 1));
    expect_ids(r, ACC_A, "Subscribe", "a-disabled");
    expect_ids(r, ACC_C, "Subscribe", "a-both");
    assert_int_equal(registry_size(r), 7);
    registry_destroy(r);
}

static void test_get(void **state)
{
    (void)state;
    struct registry *r = matrix_registry();
    struct endpoint *ep = registry_get(r, "a-both");
    assert_non_null(ep);
    assert_string_equal(ep->id, "a-both");
    assert_string_equal(ep->account_id, ACC_A);
    assert_string_equal(ep->url, "https://hooks.example.com/a-both");
    assert_int_equal(ep->n_event_types, 2);
    endpoint_unref(ep);
    ep = registry_get(r, "a-disabled");
    assert_non_null(ep); /* disabled endpoints are known, just not routed to */
    assert_false(ep->enabled);
    endpoint_unref(ep);
    ep = registry_get(r, "any-unsub");
    assert_non_null(ep);
    endpoint_unref(ep);
    assert_null(registry_get(r, "nope"));
    assert_null(registry_get(r, ""));
    assert_null(registry_get(r, "a-bot")); /* no prefix matching */
    assert_null(registry_get(r, ACC_A));   /* ids and accounts are separate */
    registry_destroy(r);

    r = registry_new();
    assert_int_equal(registry_size(r), 0);
    assert_null(registry_get(r, "a-sub"));
    assert_int_equal(registry_match(r, ACC_A, "Subscribe", NULL, 0), 0);
    registry_destroy(r);
}

static void test_match_max(void **state)
{
    (void)state;
    struct registry *r = matrix_registry();
    struct endpoint *sentinel = (struct endpoint *)&sentinel;
    struct endpoint *out[4] = {sentinel, sentinel, sentinel, sentinel};
    /* A/Unsubscribe: 3 matches, two of them in A's list, one "*". */
    assert_int_equal(registry_match(r, ACC_A, "Unsubscribe", out, 1), 3);
    assert_non_null(out[0]);
    assert_ptr_not_equal(out[0], sentinel);
    assert_true(endpoint_matches(out[0], ACC_A, "Unsubscribe"));
    assert_ptr_equal(out[1], sentinel); /* nothing written past max */
    unref_all(out, 1);

    out[0] = out[1] = out[2] = out[3] = sentinel;
    assert_int_equal(registry_match(r, ACC_A, "Unsubscribe", out, 2), 3);
    assert_ptr_not_equal(out[0], out[1]);
    assert_ptr_equal(out[2], sentinel);
    unref_all(out, 2);

    assert_int_equal(registry_match(r, ACC_A, "Subscribe", NULL, 0), 3);
    assert_int_equal(registry_match(r, ACC_C, "Unsubscribe", NULL, 0), 1);

    out[0] = out[1] = out[2] = out[3] = sentinel;
    assert_int_equal(registry_match(r, ACC_A, "Unsubscribe", out, 4), 3);
    assert_ptr_equal(out[3], sentinel);
    unref_all(out, 3);
    registry_destroy(r);
}

/* 100,000 endpoints over 10,000 accounts: exactly the right ones come back. */
#define BIG_ACCOUNTS 10000
#define BIG_PER_ACCOUNT 10

static void account_uuid(int i, char *buf, size_t size)
{
    snprintf(buf, size, "%08x-0000-4000-8000-%012x", (unsigned)i * 2654435761u, (unsigned)i);
}

static void test_large_registry(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    char acc[64], id[64];
    for (int e = 0; e < BIG_PER_ACCOUNT; e++) {
        for (int a = 0; a < BIG_ACCOUNTS; a++) {
            account_uuid(a, acc, sizeof(acc));
            snprintf(id, sizeof(id), "ep-%d-%d", a, e);
            /* Even-numbered endpoints want Subscribe only, odd ones both. */
            put(r, make_ep(id, acc, e % 2 ? "Subscribe,Unsubscribe" : "Subscribe", 1));
        }
    }
    assert_int_equal(registry_size(r), BIG_ACCOUNTS * BIG_PER_ACCOUNT);

    static const int probe[] = {0, 1, 4242, BIG_ACCOUNTS - 1};
    for (size_t p = 0; p < sizeof(probe) / sizeof(probe[0]); p++) {
        int a = probe[p];
        account_uuid(a, acc, sizeof(acc));
        struct endpoint *out[BIG_PER_ACCOUNT + 1];
        size_t n = registry_match(r, acc, "Subscribe", out, BIG_PER_ACCOUNT + 1);
        assert_int_equal(n, BIG_PER_ACCOUNT);
        int seen[BIG_PER_ACCOUNT] = {0};
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(out[i]->account_id, acc);
            int ra = -1, re = -1;
            assert_int_equal(sscanf(out[i]->id, "ep-%d-%d", &ra, &re), 2);
            assert_int_equal(ra, a);
            assert_true(re >= 0 && re < BIG_PER_ACCOUNT);
            seen[re]++;
        }
        for (int e = 0; e < BIG_PER_ACCOUNT; e++) {
            assert_int_equal(seen[e], 1);
        }
        unref_all(out, n);
        assert_int_equal(registry_match(r, acc, "Unsubscribe", NULL, 0), BIG_PER_ACCOUNT / 2);
        assert_int_equal(registry_match(r, acc, "FutureType", NULL, 0), 0);
    }
    /* An account with no endpoints. */
    assert_int_equal(registry_match(r, ACC_C, "Subscribe", NULL, 0), 0);

    /* One "*" endpoint joins every account's matches. */
    put(r, make_ep("all", "*", "Subscribe", 1));
    account_uuid(4242, acc, sizeof(acc));
    assert_int_equal(registry_match(r, acc, "Subscribe", NULL, 0), BIG_PER_ACCOUNT + 1);
    assert_int_equal(registry_match(r, ACC_C, "Subscribe", NULL, 0), 1);
    account_uuid(9999, acc, sizeof(acc));
    expect_account(r, "ep-9999-9", acc);
    registry_destroy(r);
}

/*
 * A URL with bytes that are not ASCII (url = "http://localhost:8080/\\xff"
 * in the config file, which libconfig decodes to the byte 0xff) is refused:
 * URLs are ASCII (RFC 3986), and such a URL would make every delivery
 * record that carries it invalid JSON.
 */
static void test_check_url_not_utf8(void **state)
{
    (void)state;
    char err[512];
    /* Sane URLs pass, so the refusals below are about the bytes. */
    assert_int_equal(endpoint_check_url("https://hooks.example.com/webhook", err, sizeof(err)), 0);
    assert_int_equal(endpoint_check_url("http://127.0.0.1:8080/a?b=%FF", err, sizeof(err)), 0);
    static const char *bad[] = {
        "https://hooks.example.com/\xff",
        "https://hooks.example.com/a\xc3",       /* truncated sequence */
        "https://hooks.example.com/?q=\xc0\xaf", /* overlong */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int rc = endpoint_check_url(bad[i], err, sizeof(err));
        if (rc == 0) {
            print_error("accepted a URL that is not UTF-8 (case %zu)\n", i);
        }
        assert_int_equal(rc, -1);
        assert_true(strlen(err) > 0);
    }
}

/* Endpoints-topic records: tombstones remove, config endpoints win. */
static void test_apply(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    registry_put_config(r, make_ep("cfg", ACC_A, "Subscribe", 1));
    assert_int_equal(put(r, make_ep("t1", ACC_A, "Subscribe", 1)), REGISTRY_ADDED);
    assert_int_equal(put(r, make_ep("t1", ACC_B, "Subscribe", 1)), REGISTRY_UPDATED);
    expect_ids(r, ACC_A, "Subscribe", "cfg");
    expect_ids(r, ACC_B, "Subscribe", "t1");

    /* The config's endpoint is neither replaced nor removed by the topic. */
    assert_int_equal(put(r, make_ep("cfg", ACC_B, "Subscribe", 1)), REGISTRY_CONFIG_WINS);
    assert_int_equal(registry_apply(r, "cfg", NULL), REGISTRY_CONFIG_WINS);
    expect_account(r, "cfg", ACC_A);
    assert_true(registry_is_config(r, "cfg"));
    assert_false(registry_is_config(r, "t1"));

    /* A tombstone removes; a second one finds nothing. */
    assert_int_equal(registry_apply(r, "t1", NULL), REGISTRY_REMOVED);
    assert_null(registry_get(r, "t1"));
    expect_ids(r, ACC_B, "Subscribe", "");
    assert_int_equal(registry_apply(r, "t1", NULL), REGISTRY_UNKNOWN);
    assert_int_equal(registry_size(r), 1);
    registry_destroy(r);
}

/* Applies one record as regsync does: parsed, and applied only when valid.
 * Returns 0 when applied, -1 when skipped. */
static int apply_record(struct registry *r, const char *key, size_t key_len, const char *value)
{
    char id[ENDPOINT_ID_MAX + 1], err[512];
    struct endpoint *ep = NULL;
    if (regsync_parse_record(key, key_len, value, value != NULL ? strlen(value) : 0, id, &ep, err,
                             sizeof(err)) != 0) {
        assert_null(ep);
        assert_true(strlen(err) > 0);
        return -1;
    }
    registry_apply(r, id, ep);
    return 0;
}

/*
 * Issue 11: a key is the record's bytes, not a C string.  "tep\0evil" (8
 * bytes), a key that is not UTF-8, or one endpoint_check_id refuses, is
 * skipped: neither an update nor a tombstone reaches endpoint "tep".
 */
static void test_record_key_hostile(void **state)
{
    (void)state;
    static const char good[] = "{\"accountId\":\"" ACC_A "\",\"url\":\"http://h/\","
                               "\"eventTypes\":[\"*\"]}";
    static const char other[] = "{\"accountId\":\"" ACC_B "\",\"url\":\"http://evil/\","
                                "\"eventTypes\":[\"*\"]}";
    static const struct {
        const char *key;
        size_t len;
    } bad[] = {
        {"tep\0evil", 8}, {"tep\0", 4}, {"tep\xff", 4}, {"tep\xc3", 4},
        {"tep\x1b", 4},   {"tep ", 4},  {"\0tep", 4},   {"tep", 0},
    };
    struct registry *r = registry_new();
    assert_int_equal(apply_record(r, "tep", 3, good), 0);
    expect_account(r, "tep", ACC_A);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (apply_record(r, bad[i].key, bad[i].len, other) == 0 ||
            apply_record(r, bad[i].key, bad[i].len, NULL) == 0) {
            fail_msg("case %zu: a record with a bad key was applied", i);
        }
    }
    /* tep is still there, unchanged; and nothing else was added. */
    expect_account(r, "tep", ACC_A);
    struct endpoint *ep = registry_get(r, "tep");
    assert_non_null(ep);
    assert_string_equal(ep->url, "http://h/");
    endpoint_unref(ep);
    assert_int_equal(registry_size(r), 1);
    /* A tombstone with the exact key still removes it. */
    assert_int_equal(apply_record(r, "tep", 3, NULL), 0);
    assert_null(registry_get(r, "tep"));
    registry_destroy(r);
}

/* A reference taken before an update or a removal stays valid, with the
 * old contents, until it is dropped (a delivery in flight). */
static void test_reference_outlives_update(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    put(r, make_ep("x", ACC_A, "Subscribe", 1));
    struct endpoint *old = registry_get(r, "x");
    struct endpoint *out[2];
    assert_int_equal(registry_match(r, ACC_A, "Subscribe", out, 2), 1);
    put(r, make_ep("x", ACC_B, "Unsubscribe", 1));
    registry_apply(r, "x", NULL);
    assert_string_equal(old->account_id, ACC_A);
    assert_string_equal(out[0]->url, "https://hooks.example.com/x");
    endpoint_unref(old);
    endpoint_unref(out[0]);
    registry_destroy(r);
}

static void test_list(void **state)
{
    (void)state;
    struct registry *r = matrix_registry();
    size_t n = 0;
    struct endpoint **all = registry_list(r, &n);
    assert_int_equal(n, 7);
    for (size_t i = 1; i < n; i++) {
        assert_true(strcmp(all[i - 1]->id, all[i]->id) < 0);
    }
    unref_all(all, n);
    free(all);
    registry_destroy(r);
}

/* Readers route while a writer replaces and removes endpoints: each match
 * is a consistent set (never a half-applied update), and nothing is freed
 * under a reader (run under ASan and TSan by make asan / make tsan). */
#define RACE_ROUNDS 20000

static void *race_writer(void *arg)
{
    struct registry *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        /* "w" is always in exactly one of A or B; "gone" comes and goes. */
        put(r, make_ep("w", i % 2 ? ACC_A : ACC_B, "Subscribe", 1));
        if (i % 3 == 0) {
            put(r, make_ep("gone", ACC_A, "Subscribe", 1));
        } else {
            registry_apply(r, "gone", NULL);
        }
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    put(r, make_ep("stay", ACC_A, "Subscribe", 1));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_writer, r), 0);
    for (int i = 0; i < RACE_ROUNDS; i++) {
        struct endpoint *a[4], *b[4];
        size_t na = registry_match(r, ACC_A, "Subscribe", a, 4);
        size_t nb = registry_match(r, ACC_B, "Subscribe", b, 4);
        assert_true(na >= 1 && na <= 3);
        assert_true(nb <= 1);
        for (size_t k = 0; k < na; k++) {
            assert_string_equal(a[k]->account_id, ACC_A);
        }
        for (size_t k = 0; k < nb; k++) {
            assert_string_equal(b[k]->id, "w");
            assert_string_equal(b[k]->account_id, ACC_B);
        }
        unref_all(a, na);
        unref_all(b, nb);
        struct endpoint *w = registry_get(r, "w");
        if (w != NULL) {
            assert_string_equal(w->id, "w");
            endpoint_unref(w);
        }
    }
    pthread_join(t, NULL);
    registry_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_matrix),
        cmocka_unit_test(test_endpoint_matches_rule),
        cmocka_unit_test(test_put_replaces),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_match_max),
        cmocka_unit_test(test_large_registry),
        cmocka_unit_test(test_check_url_not_utf8),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_record_key_hostile),
        cmocka_unit_test(test_reference_outlives_update),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
