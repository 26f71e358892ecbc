/*
 * test_conf: the configuration module (loading, every validation rule,
 * defaults, environment overrides, the generated reference) and the endpoint
 * rules it relies on.
 *
 * Most cases are data (jansson's test/suites layout), under
 * $TEST_DATA_DIR/conf (default tests/data/conf: run from the repository
 * root):
 *   valid/NAME.conf            must load;
 *   invalid/CASE/bridge.conf   must fail, and every line of
 *   invalid/CASE/expected      must appear in the error text ("bridge.conf:LINE:
 *                              setting: ..." so the line number is checked);
 *   invalid/CASE/unexpected    optional: lines that must not appear (secrets).
 * Each file or case is its own cmocka test, named after it.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "endpoint.h"

#define ERR_SIZE 8192
#define PATH_SIZE 1024
#define MAX_CASES 512

static const char *const env_vars[] = {"WEBHOOK_BRIDGE_BROKERS", "WEBHOOK_BRIDGE_ADMIN_LISTEN",
                                       "WEBHOOK_BRIDGE_LOG_LEVEL"};

/* The data directory (tests/data) and the repository root it lives in. */
#define DIR_SIZE 512
static char data_dir[DIR_SIZE];
static char root_dir[DIR_SIZE + 16];

static void data_path(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/conf/%s", data_dir, rel);
}

/* Whole file as a string, or NULL when it cannot be read. */
static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;

    if (fp == NULL) {
        return NULL;
    }
    FILE *mem = open_memstream(&text, &len);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    while (n > 0) {
        fwrite(buf, 1, n, mem);
        n = fread(buf, 1, sizeof(buf), fp);
    }
    fclose(mem);
    fclose(fp);
    return text;
}

static struct conf *load_ok(const char *path)
{
    char err[ERR_SIZE];
    struct conf *conf = NULL;

    if (conf_load(&conf, path, err, sizeof(err)) != 0) {
        fail_msg("%s should load, but:\n%s", path, err);
    }
    assert_non_null(conf);
    return conf;
}

/* Loads a file that must fail; returns its error text (static). */
static const char *load_fail(const char *path)
{
    static char err[ERR_SIZE];
    struct conf *conf = NULL;

    if (conf_load(&conf, path, err, sizeof(err)) != -1) {
        conf_destroy(conf);
        fail_msg("%s should fail to load", path);
    }
    assert_null(conf);
    assert_true(strlen(err) > 0);
    return err;
}

static void unset_env(void)
{
    for (size_t i = 0; i < WB_ARRAY_LEN(env_vars); i++) {
        unsetenv(env_vars[i]);
    }
}

static int teardown_env(void **state)
{
    (void)state;
    unset_env();
    return 0;
}

/*
 * Data-driven cases
 */

static void test_valid_file(void **state)
{
    conf_destroy(load_ok(*state));
}

/* Checks that each non-empty line of the file at list_path is (want true) or
 * is not (false) a substring of err. */
static void check_lines(const char *err, const char *list_path, bool want)
{
    char *text = read_text(list_path);
    char *line, *next;

    if (text == NULL) {
        if (want) {
            fail_msg("cannot read %s", list_path);
        }
        return;
    }
    for (line = text; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (*line == '\0') {
            continue;
        }
        if ((strstr(err, line) != NULL) != want) {
            char msg[ERR_SIZE + 1024];
            snprintf(msg, sizeof(msg), "%s:\n  %s\n%s the error:\n%s", list_path, line,
                     want ? "is not in" : "must not be in", err);
            free(text);
            fail_msg("%s", msg);
        }
    }
    free(text);
}

static void test_invalid_case(void **state)
{
    const char *dir = *state;
    char conf_path[PATH_SIZE], list_path[PATH_SIZE];

    snprintf(conf_path, sizeof(conf_path), "%s/bridge.conf", dir);
    const char *err = load_fail(conf_path);
    snprintf(list_path, sizeof(list_path), "%s/expected", dir);
    check_lines(err, list_path, true);
    snprintf(list_path, sizeof(list_path), "%s/unexpected", dir);
    check_lines(err, list_path, false);
}

/*
 * Defaults, values and derived values
 */

static void test_defaults(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "valid/empty.conf");
    struct conf *conf = load_ok(path);
    assert_string_equal(conf->path, path);
    assert_string_equal(conf->kafka.brokers, "embedded");
    assert_true(conf->kafka.embedded);
    assert_string_equal(conf->kafka.group_id, "webhook-bridge");
    assert_string_equal(conf->kafka.events_topic, "subscription-events");
    assert_string_equal(conf->kafka.endpoints_topic, "webhook-endpoints");
    assert_string_equal(conf->kafka.delay_prefix, "webhook-delay");
    assert_string_equal(conf->kafka.dead_letter_topic, "webhook-dead-letter");
    assert_string_equal(conf->kafka.attempts_topic, "webhook-attempts");
    assert_int_equal(conf->kafka.n_properties, 0);
    assert_true(conf->kafka.create_topics); /* embedded */
    assert_int_equal(conf->kafka.partitions, 6);
    assert_int_equal(conf->kafka.replication, 1); /* embedded */
    assert_int_equal(conf->delivery.workers, 2);
    assert_int_equal(conf->delivery.max_in_flight, 1024);
    assert_int_equal(conf->delivery.endpoint_max_in_flight, 64);
    assert_int_equal(conf->delivery.connect_timeout_ms, 5000);
    assert_int_equal(conf->delivery.timeout_ms, 10000);
    assert_false(conf->delivery.allow_private_networks);
    assert_int_equal(conf->delivery.max_event_bytes, 921600);
    assert_int_equal(conf->retry.n_schedule, 1);
    assert_int_equal(conf->retry.schedule_ms[0], 5 * 60 * 1000);
    assert_int_equal(conf->retry.window_ms, 30 * 60 * 1000);
    assert_int_equal(conf->n_endpoints, 0);
    assert_string_equal(conf->admin.listen, "127.0.0.1:8080");
    assert_string_equal(conf->log.level, "info");
    conf_destroy(conf);
}

static void test_empty_groups_are_defaults(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "valid/empty_groups.conf");
    struct conf *conf = load_ok(path);
    assert_true(conf->kafka.embedded);
    assert_string_equal(conf->kafka.events_topic, "subscription-events");
    assert_int_equal(conf->delivery.workers, 2);
    assert_int_equal(conf->retry.n_schedule, 1);
    assert_int_equal(conf->n_endpoints, 0);
    conf_destroy(conf);
}

static void test_full(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "valid/full.conf");
    struct conf *conf = load_ok(path);
    assert_string_equal(conf->kafka.brokers, "kafka-1:9092,kafka-2:9092");
    assert_false(conf->kafka.embedded);
    assert_string_equal(conf->kafka.group_id, "bridge-prod");
    assert_string_equal(conf->kafka.events_topic, "events.v1");
    assert_string_equal(conf->kafka.endpoints_topic, "endpoints.v1");
    assert_string_equal(conf->kafka.delay_prefix, "delay.v1");
    assert_string_equal(conf->kafka.dead_letter_topic, "dlq.v1");
    assert_string_equal(conf->kafka.attempts_topic, "attempts.v1");
    assert_int_equal(conf->kafka.n_properties, 6);
    assert_string_equal(conf->kafka.properties[0], "security.protocol=sasl_ssl");
    assert_string_equal(conf->kafka.properties[3], "sasl.password=s3cret=with=equals");
    assert_true(conf->kafka.create_topics);
    assert_int_equal(conf->kafka.partitions, 12);
    assert_int_equal(conf->kafka.replication, 3);
    assert_int_equal(conf->delivery.workers, 64);
    assert_int_equal(conf->delivery.max_in_flight, 1000000);
    assert_int_equal(conf->delivery.endpoint_max_in_flight, 1000000);
    assert_int_equal(conf->delivery.connect_timeout_ms, 1500);
    assert_int_equal(conf->delivery.timeout_ms, 1500);
    assert_true(conf->delivery.allow_private_networks);
    assert_int_equal(conf->delivery.max_event_bytes, 16777216);
    assert_int_equal(conf->retry.n_schedule, 5);
    assert_int_equal(conf->retry.schedule_ms[0], 10000);
    assert_int_equal(conf->retry.schedule_ms[1], 60000);
    assert_int_equal(conf->retry.schedule_ms[2], 300000);
    assert_int_equal(conf->retry.schedule_ms[3], 300000);
    assert_int_equal(conf->retry.schedule_ms[4], 5400000);
    assert_int_equal(conf->retry.window_ms, 24 * 3600 * 1000);
    assert_int_equal(conf->n_endpoints, 2);

    const struct endpoint *ep = conf->endpoints[0];
    assert_string_equal(ep->id, "rokt-prod");
    assert_string_equal(ep->account_id, "0b98ef2c-f739-45f1-81e3-b2def2bb868f");
    assert_string_equal(ep->url, "https://hooks.example.com/rokt");
    assert_int_equal(ep->n_event_types, 2);
    assert_string_equal(ep->event_types[0], "Subscribe");
    assert_string_equal(ep->event_types[1], "Unsubscribe");
    assert_int_equal(ep->n_secrets, 2);
    assert_string_equal(ep->secrets[1], "whsec_dGVzdA==");
    assert_true(ep->enabled);
    assert_string_equal(ep->description, "Production receiver");

    ep = conf->endpoints[1];
    assert_string_equal(ep->id, "all.accounts:audit_1");
    assert_string_equal(ep->account_id, "*");
    assert_int_equal(ep->n_event_types, 1); /* default ["*"] */
    assert_string_equal(ep->event_types[0], "*");
    assert_int_equal(ep->n_secrets, 0);
    assert_false(ep->enabled);
    assert_string_equal(ep->description, "");

    assert_string_equal(conf->admin.listen, "[::]:9090");
    assert_string_equal(conf->log.level, "warn");
    conf_destroy(conf);
}

static void test_attempts_off(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "valid/attempts_off.conf");
    struct conf *conf = load_ok(path);
    assert_string_equal(conf->kafka.attempts_topic, "");
    assert_false(conf->kafka.create_topics); /* given, even though embedded */
    assert_string_equal(conf->log.level, "debug");
    conf_destroy(conf);
}

static void test_example_config(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    snprintf(path, sizeof(path), "%s/conf/bridge.conf", root_dir);
    struct conf *conf = load_ok(path);
    assert_true(conf->kafka.embedded);
    assert_int_equal(conf->n_endpoints, 1);
    assert_string_equal(conf->endpoints[0]->url, "https://hooks.example.com/rokt");
    assert_string_equal(conf->endpoints[0]->account_id, "0b98ef2c-f739-45f1-81e3-b2def2bb868f");
    conf_destroy(conf);
}

/*
 * Environment overrides
 */

static void test_env_overrides(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    setenv("WEBHOOK_BRIDGE_BROKERS", "kafka-a:9092,kafka-b:9092", 1);
    setenv("WEBHOOK_BRIDGE_ADMIN_LISTEN", "0.0.0.0:9100", 1);
    setenv("WEBHOOK_BRIDGE_LOG_LEVEL", "debug", 1);
    data_path(path, sizeof(path), "valid/empty.conf");
    struct conf *conf = load_ok(path);
    assert_string_equal(conf->kafka.brokers, "kafka-a:9092,kafka-b:9092");
    assert_false(conf->kafka.embedded);
    assert_false(conf->kafka.create_topics);       /* default when not embedded */
    assert_int_equal(conf->kafka.replication, -1); /* the broker's default */
    assert_string_equal(conf->admin.listen, "0.0.0.0:9100");
    assert_string_equal(conf->log.level, "debug");
    conf_destroy(conf);
}

/* The environment wins over the file, both ways. */
static void test_env_over_file(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    setenv("WEBHOOK_BRIDGE_BROKERS", "embedded", 1);
    data_path(path, sizeof(path), "valid/full.conf");
    struct conf *conf = load_ok(path);
    assert_true(conf->kafka.embedded);
    assert_int_equal(conf->kafka.replication, 1);
    assert_true(conf->kafka.create_topics); /* given in the file */
    assert_string_equal(conf->admin.listen, "[::]:9090");
    conf_destroy(conf);
}

static void test_env_empty_is_unset(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    setenv("WEBHOOK_BRIDGE_BROKERS", "", 1);
    setenv("WEBHOOK_BRIDGE_LOG_LEVEL", "", 1);
    data_path(path, sizeof(path), "valid/full.conf");
    struct conf *conf = load_ok(path);
    assert_string_equal(conf->kafka.brokers, "kafka-1:9092,kafka-2:9092");
    assert_string_equal(conf->log.level, "warn");
    conf_destroy(conf);
}

static void test_env_bad_values(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    setenv("WEBHOOK_BRIDGE_ADMIN_LISTEN", "localhost", 1);
    setenv("WEBHOOK_BRIDGE_LOG_LEVEL", "loud", 1);
    setenv("WEBHOOK_BRIDGE_BROKERS", "a:1, b:2", 1);
    data_path(path, sizeof(path), "valid/empty.conf");
    const char *err = load_fail(path);
    assert_non_null(strstr(err, "env WEBHOOK_BRIDGE_ADMIN_LISTEN: admin.listen: \"localhost\" "
                                "has no host:port (expected"));
    assert_non_null(strstr(err, "env WEBHOOK_BRIDGE_LOG_LEVEL: log.level: \"loud\" is not a log "
                                "level (expected debug, info, warn or error)"));
    assert_non_null(strstr(err, "env WEBHOOK_BRIDGE_BROKERS: kafka.brokers: "));
}

/*
 * Files and error text
 */

static void test_missing_file(void **state)
{
    char path[PATH_SIZE], want[PATH_SIZE + 64];
    (void)state;

    data_path(path, sizeof(path), "no-such-file.conf");
    snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
    assert_string_equal(load_fail(path), want);
}

static void test_directory(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "valid");
    assert_non_null(strstr(load_fail(path), ": cannot read: "));
}

/* Every error is reported, one per line, in file order. */
static void test_all_errors_reported(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "invalid/many_errors/bridge.conf");
    const char *err = load_fail(path);
    int lines = 1;
    for (const char *p = err; *p != '\0'; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, 7);
    const char *foo = strstr(err, "bridge.conf:2: foo:");
    const char *level = strstr(err, "bridge.conf:11: log.level:");
    assert_non_null(foo);
    assert_non_null(level);
    assert_true(foo < level);
}

/* A short errstr keeps whole lines and says how many were left out; a tiny
 * one is cut but terminated; none at all is allowed. */
static void test_error_truncation(void **state)
{
    char path[PATH_SIZE], full[ERR_SIZE], tiny[10];
    struct conf *conf = NULL;
    (void)state;

    data_path(path, sizeof(path), "invalid/many_errors/bridge.conf");
    assert_int_equal(conf_load(&conf, path, full, sizeof(full)), -1);
    size_t first_len = strcspn(full, "\n");

    /* Room for the first line and the note only. */
    size_t size = first_len + 48;
    char *err = malloc(size);
    memset(err, 'x', size);
    assert_int_equal(conf_load(&conf, path, err, size), -1);
    assert_memory_equal(err, full, first_len);
    assert_string_equal(err + first_len, "\n(6 more errors)");
    free(err);

    memset(tiny, 'x', sizeof(tiny));
    assert_int_equal(conf_load(&conf, path, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    assert_memory_equal(tiny, full, sizeof(tiny) - 1);

    assert_int_equal(conf_load(&conf, path, NULL, 0), -1);
    assert_null(conf);
}

/*
 * Output
 */

static char *capture_summary(const struct conf *conf)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    conf_print_summary(conf, fp);
    fclose(fp);
    return text;
}

static void test_summary(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    data_path(path, sizeof(path), "valid/full.conf");
    struct conf *conf = load_ok(path);
    char *text = capture_summary(conf);
    /* One delay topic per distinct interval, in schedule order. */
    assert_non_null(strstr(text, " delay.v1-10s delay.v1-1m delay.v1-5m delay.v1-90m\n"));
    assert_non_null(strstr(text, "kafka-1:9092,kafka-2:9092"));
    assert_non_null(strstr(text, "bridge-prod"));
    assert_non_null(strstr(text, "64 workers"));
    assert_non_null(strstr(text, "schedule 10s, 1m, 5m, 5m, 90m"));
    assert_non_null(strstr(text, "window 24h"));
    assert_non_null(strstr(text, "2 in the file: rokt-prod, all.accounts:audit_1 (disabled)"));
    /* No secret and no property value. */
    assert_null(strstr(text, "whsec_"));
    assert_null(strstr(text, "s3cret"));
    free(text);
    conf_destroy(conf);

    data_path(path, sizeof(path), "valid/empty.conf");
    conf = load_ok(path);
    text = capture_summary(conf);
    assert_non_null(strstr(text, " webhook-delay-5m\n"));
    assert_non_null(strstr(text, "embedded"));
    free(text);
    conf_destroy(conf);
}

static char *capture_reference(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    conf_print_reference(fp);
    fclose(fp);
    return text;
}

static void test_reference(void **state)
{
    static const char *const rows[] = {
        "| `kafka.brokers` | string | `\"embedded\"` |",
        "| `kafka.topics.attempts` | string | `\"webhook-attempts\"` |",
        "| `kafka.create_topics` | boolean | true when embedded, else false |",
        "| `delivery.endpoint_max_in_flight` | integer | `64` | an integer from 1 to 1000000 |",
        "| `delivery.timeout` | duration | `\"10s\"` |",
        "| `retry.schedule` | list of durations | `[\"5m\"]` |",
        "| `endpoints[].id` | string | required |",
        "| `endpoints[].event_types` | list of strings | `[\"*\"]` |",
        "| `admin.listen` | string | `\"127.0.0.1:8080\"` |",
        "| `log.level` | string | `\"info\"` |",
        "| `WEBHOOK_BRIDGE_BROKERS` | `kafka.brokers` |",
        "| `WEBHOOK_BRIDGE_ADMIN_LISTEN` | `admin.listen` |",
        "| `WEBHOOK_BRIDGE_LOG_LEVEL` | `log.level` |",
        "\n## delivery\n",
    };
    (void)state;

    char *text = capture_reference();
    for (size_t i = 0; i < WB_ARRAY_LEN(rows); i++) {
        if (strstr(text, rows[i]) == NULL) {
            fail_msg("reference lacks: %s", rows[i]);
        }
    }
    free(text);
}

/* docs/configuration.md is the generated reference: regenerate it with
 * `make reference` when the table changes. */
static void test_reference_doc_up_to_date(void **state)
{
    char path[PATH_SIZE];
    (void)state;

    snprintf(path, sizeof(path), "%s/docs/configuration.md", root_dir);
    char *doc = read_text(path);
    if (doc == NULL) {
        fail_msg("cannot read %s", path);
    }
    char *text = capture_reference();
    bool same = strcmp(doc, text) == 0;
    free(doc);
    free(text);
    if (!same) {
        fail_msg("%s differs from conf_print_reference: run make reference", path);
    }
}

/*
 * endpoint
 */

static struct endpoint *make_endpoint(const char *account, const char *const *types, size_t n)
{
    struct endpoint *ep = endpoint_new();
    ep->id = strdup("ep");
    ep->account_id = strdup(account);
    ep->url = strdup("https://hooks.example.com/x");
    for (size_t i = 0; i < n; i++) {
        endpoint_add_event_type(ep, types[i]);
    }
    return ep;
}

#define ACCOUNT_A "0b98ef2c-f739-45f1-81e3-b2def2bb868f"
#define ACCOUNT_B "4a2d4acb-bd05-e511-af43-067f1c947754"

static void test_endpoint_matches(void **state)
{
    static const char *const sub[] = {"Subscribe"};
    static const char *const star[] = {"*"};
    static const char *const star_and_sub[] = {"*", "Subscribe"};
    (void)state;

    struct endpoint *ep = make_endpoint(ACCOUNT_A, sub, 1);
    assert_true(ep->enabled);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Subscribe"), 1);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Unsubscribe"), 0);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_B, "Subscribe"), 0);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "subscribe"), 0);
    ep->enabled = false;
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Subscribe"), 0);
    endpoint_unref(ep);

    ep = make_endpoint("*", star, 1);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Subscribe"), 1);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_B, "SomethingNew"), 1);
    endpoint_unref(ep);

    /* "*" is a wildcard only alone. */
    ep = make_endpoint(ACCOUNT_A, star_and_sub, 2);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Subscribe"), 1);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Unsubscribe"), 0);
    endpoint_unref(ep);

    /* No types: nothing. */
    ep = make_endpoint(ACCOUNT_A, NULL, 0);
    assert_int_equal(endpoint_matches(ep, ACCOUNT_A, "Subscribe"), 0);
    endpoint_unref(ep);
}

static void test_endpoint_dup(void **state)
{
    static const char *const types[] = {"Subscribe", "Unsubscribe"};
    (void)state;

    struct endpoint *ep = make_endpoint(ACCOUNT_A, types, 2);
    endpoint_add_secret(ep, "whsec_dGVzdA==");
    ep->description = strdup("d");
    ep->enabled = false;
    struct endpoint *copy = endpoint_dup(ep);
    endpoint_unref(ep);
    assert_string_equal(copy->id, "ep");
    assert_string_equal(copy->account_id, ACCOUNT_A);
    assert_string_equal(copy->url, "https://hooks.example.com/x");
    assert_int_equal(copy->n_event_types, 2);
    assert_string_equal(copy->event_types[1], "Unsubscribe");
    assert_int_equal(copy->n_secrets, 1);
    assert_string_equal(copy->secrets[0], "whsec_dGVzdA==");
    assert_string_equal(copy->description, "d");
    assert_false(copy->enabled);
    endpoint_unref(copy);
    endpoint_unref(NULL);
}

struct check_case {
    const char *value;
    int ok;
};

static void run_checks(int (*check)(const char *, char *, size_t), const struct check_case *cases,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512] = "";
        int rc = check(cases[i].value, err, sizeof(err));
        if ((rc == 0) != cases[i].ok) {
            fail_msg("\"%s\": got %d (%s), expected %s", cases[i].value, rc, err,
                     cases[i].ok ? "valid" : "invalid");
        }
        if (rc != 0 && strstr(err, "(expected ") == NULL) {
            fail_msg("\"%s\": message without (expected ...): %s", cases[i].value, err);
        }
    }
}

static void test_endpoint_check_id(void **state)
{
    static const struct check_case cases[] = {
        {"a", 1}, {"rokt-prod", 1}, {"A.b_c:d-9", 1}, {"", 0}, {"a b", 0}, {"a/b", 0}, {"é", 0},
    };
    char long_id[ENDPOINT_ID_MAX + 2], err[256];
    (void)state;

    run_checks(endpoint_check_id, cases, WB_ARRAY_LEN(cases));
    memset(long_id, 'x', sizeof(long_id));
    long_id[ENDPOINT_ID_MAX] = '\0';
    assert_int_equal(endpoint_check_id(long_id, err, sizeof(err)), 0);
    long_id[ENDPOINT_ID_MAX] = 'x';
    long_id[ENDPOINT_ID_MAX + 1] = '\0';
    assert_int_equal(endpoint_check_id(long_id, err, sizeof(err)), -1);
}

static void test_endpoint_check_account(void **state)
{
    static const struct check_case cases[] = {
        {ACCOUNT_A, 1},
        {"0B98EF2C-F739-45F1-81E3-B2DEF2BB868F", 1},
        {"*", 1},
        {"", 0},
        {"**", 0},
        {"0b98ef2c-f739-45f1-81e3-b2def2bb868", 0},
        {"0b98ef2c-f739-45f1-81e3-b2def2bb868ff", 0},
        {"0b98ef2cf73945f181e3b2def2bb868f", 0},
        {"0b98ef2c-f739-45f1-81e3-b2def2bb868g", 0},
    };
    (void)state;

    run_checks(endpoint_check_account, cases, WB_ARRAY_LEN(cases));
}

static void test_endpoint_check_url(void **state)
{
    static const struct check_case cases[] = {
        {"https://hooks.example.com/rokt", 1},
        {"http://localhost:8080/hook?x=1", 1},
        {"http://[::1]:8080/", 1},
        {"HTTPS://Hooks.Example.com", 1},
        {"ftp://files.example.com/", 0},
        {"file:///etc/passwd", 0},
        {"https://", 0},
        {"https://:8443/", 0},
        {"hooks.example.com/x", 0},
        {"not a url", 0},
        {"", 0},
        {"https://user:pw@hooks.example.com/", 0},
        {"https://user@hooks.example.com/", 0},
        {"http://hooks.example.com:99999/", 0},
        {"http://hooks example.com/", 0},
    };
    char err[512];
    (void)state;

    run_checks(endpoint_check_url, cases, WB_ARRAY_LEN(cases));
    /* The password never shows. */
    assert_int_equal(endpoint_check_url("https://u:hunter2@x.example/", err, sizeof(err)), -1);
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(endpoint_check_url("https://u:hunter2@x .example/", err, sizeof(err)), -1);
    assert_null(strstr(err, "hunter2"));
}

static void test_endpoint_check_secret(void **state)
{
    static const struct check_case cases[] = {
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1},
        {"whsec_dGVzdA==", 1},
        {"whsec_dGVzdDE=", 1},
        {"whsec_AA==", 1},
        {"whsec_", 0},
        {"whsec_====", 0},
        {"whsec_A===", 0},
        {"whsec_dGVzdA", 0},
        {"whsec_dGVz dA==", 0},
        {"whsec_dGVzdA==\n", 0},
        {"whsec_dG=zdA==", 0},
        {"whsec_dGVz-A==", 0},
        {"WHSEC_dGVzdA==", 0},
        {"dGVzdA==", 0},
        {"", 0},
    };
    char err[512];
    (void)state;

    run_checks(endpoint_check_secret, cases, WB_ARRAY_LEN(cases));
    assert_int_equal(endpoint_check_secret("whsec_sEcReT*", err, sizeof(err)), -1);
    assert_null(strstr(err, "sEcReT"));
    assert_int_equal(endpoint_check_secret("sEcReTsEcReT", err, sizeof(err)), -1);
    assert_null(strstr(err, "sEcReT"));
}

/*
 * Runner
 */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that end with suffix (NULL: subdirectories). */
static size_t list_dir(const char *dir, const char *suffix, char **names, size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;

    if (d == NULL) {
        fprintf(stderr,
                "test_conf: cannot open %s: %s (set TEST_DATA_DIR or run from the "
                "repository root)\n",
                dir, strerror(errno));
        return 0;
    }
    for (struct dirent *de = readdir(d); de != NULL && n < max; de = readdir(d)) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.') {
            continue;
        }
        if (suffix != NULL) {
            size_t slen = strlen(suffix);
            if (len <= slen || strcmp(de->d_name + len - slen, suffix) != 0) {
                continue;
            }
        } else if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
            continue;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    return n;
}

/* Adds one test per file or case of a data directory. */
static size_t add_data_tests(struct CMUnitTest *tests, size_t n, const char *sub,
                             const char *suffix, void (*fn)(void **), const char *prefix)
{
    char dir[PATH_SIZE];
    char *names[MAX_CASES];

    data_path(dir, sizeof(dir), sub);
    size_t count = list_dir(dir, suffix, names, MAX_CASES);
    for (size_t i = 0; i < count && n < MAX_CASES * 2; i++) {
        char *path = NULL, *name = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0 ||
            asprintf(&name, "%s/%s", prefix, names[i]) < 0) {
            abort();
        }
        tests[n].name = name;
        tests[n].test_func = fn;
        tests[n].setup_func = NULL;
        tests[n].teardown_func = NULL;
        tests[n].initial_state = path;
        n++;
        free(names[i]);
    }
    if (count == 0) {
        /* An empty or missing data directory must not pass silently. */
        fprintf(stderr, "test_conf: no cases in %s\n", dir);
        exit(1);
    }
    return n;
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_groups_are_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_attempts_off),
        cmocka_unit_test(test_example_config),
        cmocka_unit_test_teardown(test_env_overrides, teardown_env),
        cmocka_unit_test_teardown(test_env_over_file, teardown_env),
        cmocka_unit_test_teardown(test_env_empty_is_unset, teardown_env),
        cmocka_unit_test_teardown(test_env_bad_values, teardown_env),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_error_truncation),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_reference_doc_up_to_date),
        cmocka_unit_test(test_endpoint_matches),
        cmocka_unit_test(test_endpoint_dup),
        cmocka_unit_test(test_endpoint_check_id),
        cmocka_unit_test(test_endpoint_check_account),
        cmocka_unit_test(test_endpoint_check_url),
        cmocka_unit_test(test_endpoint_check_secret),
    };
    static struct CMUnitTest tests[WB_ARRAY_LEN(fixed) + MAX_CASES * 2];
    const char *env_dir = getenv("TEST_DATA_DIR");
    size_t n = 0;

    snprintf(data_dir, sizeof(data_dir), "%s", env_dir != NULL ? env_dir : "tests/data");
    snprintf(root_dir, sizeof(root_dir), "%s/../..", data_dir);
    /* The environment of whoever runs the tests must not leak in. */
    unset_env();

    for (size_t i = 0; i < WB_ARRAY_LEN(fixed); i++) {
        tests[n++] = fixed[i];
    }
    n = add_data_tests(tests, n, "valid", ".conf", test_valid_file, "valid");
    n = add_data_tests(tests, n, "invalid", NULL, test_invalid_case, "invalid");
    int failed = _cmocka_run_group_tests("conf", tests, n, NULL, NULL);
    for (size_t i = WB_ARRAY_LEN(fixed); i < n; i++) {
        free((char *)tests[i].name);
        free(tests[i].initial_state);
    }
    return failed;
}
