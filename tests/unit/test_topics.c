/*
 * test_topics: the topics plan that `topics create` sends as CreateTopics
 * requests and the daemon creates at start: names, partitions,
 * replication, cleanup.policy and retention.ms, for a few configurations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "topics.h"

static struct conf *load(const char *text)
{
    char path[] = "/tmp/test_topics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct conf *conf = NULL;
    char err[2048];
    if (conf_load(&conf, path, err, sizeof(err)) != 0) {
        unlink(path);
        fail_msg("%s", err);
    }
    unlink(path);
    return conf;
}

static const struct topic_spec *find(const struct topic_spec *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            return &t[i];
        }
    }
    return NULL;
}

static void test_default_plan(void **state)
{
    (void)state;
    struct conf *conf = load("kafka = { brokers = \"k:9092\"; };\n");
    struct topic_spec t[TOPICS_MAX];
    size_t n = topics_plan(conf, 12, 3, t, TOPICS_MAX);
    assert_int_equal(n, 6);
    static const char *const names[] = {"subscription-events", "webhook-endpoints",
                                        "webhook-dead-letter", "webhook-attempts",
                                        "webhook-delay-5m",    "webhook-delay-0s"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(t[i].name, names[i]);
        assert_int_equal(t[i].partitions, 12);
        assert_int_equal(t[i].replication, 3);
        assert_string_equal(t[i].min_insync, "2"); /* acks=all: two brokers */
    }
    assert_string_equal(find(t, n, "webhook-endpoints")->cleanup_policy, "compact");
    assert_string_equal(find(t, n, "subscription-events")->cleanup_policy, "delete");
    assert_string_equal(find(t, n, "subscription-events")->retention_ms, "");
    assert_string_equal(find(t, n, "webhook-dead-letter")->retention_ms, "2592000000");
    assert_string_equal(find(t, n, "webhook-attempts")->retention_ms, "604800000");
    /* 30 min window: the 7-day floor. */
    assert_string_equal(find(t, n, "webhook-delay-5m")->retention_ms, "604800000");
    assert_string_equal(find(t, n, "webhook-delay-0s")->cleanup_policy, "delete");
    conf_destroy(conf);
}

/* Replication 1 or 2 and the broker's default (-1) leave min.insync.replicas
 * to the broker; 3 and more get 2. */
static void test_min_insync(void **state)
{
    (void)state;
    struct conf *conf = load("kafka = { brokers = \"k:9092\"; };\n");
    assert_int_equal(conf->kafka.replication, -1);
    struct topic_spec t[TOPICS_MAX];
    size_t n = topics_plan(conf, 3, conf->kafka.replication, t, TOPICS_MAX);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i].replication, -1);
        assert_null(t[i].min_insync);
    }
    n = topics_plan(conf, 3, 1, t, TOPICS_MAX);
    for (size_t i = 0; i < n; i++) {
        assert_null(t[i].min_insync);
    }
    n = topics_plan(conf, 3, 2, t, TOPICS_MAX); /* 2 of 2 would stop writes with a broker down */
    for (size_t i = 0; i < n; i++) {
        assert_null(t[i].min_insync);
    }
    n = topics_plan(conf, 3, 3, t, TOPICS_MAX);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(t[i].min_insync, "2");
    }
    conf_destroy(conf);
}

/* Names from the config; one delay topic per distinct interval; no
 * attempts topic when the log is off; a long window stretches the delay
 * topics' retention to twice the window. */
static void test_custom_plan(void **state)
{
    (void)state;
    struct conf *conf = load("kafka = { brokers = \"k:9092\";\n"
                             "  topics = { events = \"ev\"; endpoints = \"eps\"; delay = \"d\";\n"
                             "             dead_letter = \"dlq\"; attempts = \"\"; }; };\n"
                             "retry = { schedule = [ \"1m\", \"5m\", \"5m\", \"1h\" ]; "
                             "window = \"240h\"; };\n");
    struct topic_spec t[TOPICS_MAX];
    size_t n = topics_plan(conf, 1, 1, t, TOPICS_MAX);
    assert_int_equal(n, 7);
    assert_non_null(find(t, n, "ev"));
    assert_non_null(find(t, n, "eps"));
    assert_non_null(find(t, n, "dlq"));
    assert_null(find(t, n, "webhook-attempts"));
    assert_non_null(find(t, n, "d-1m"));
    assert_non_null(find(t, n, "d-5m"));
    assert_non_null(find(t, n, "d-1h"));
    assert_non_null(find(t, n, "d-0s"));
    assert_string_equal(find(t, n, "d-1h")->retention_ms, "1728000000"); /* 20 days */
    conf_destroy(conf);
}

static void test_plan_bounded(void **state)
{
    (void)state;
    struct conf *conf = load("kafka = { brokers = \"k:9092\"; };\n");
    struct topic_spec t[3];
    assert_int_equal(topics_plan(conf, 1, 1, t, 3), 3);
    conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_plan),
        cmocka_unit_test(test_min_insync),
        cmocka_unit_test(test_custom_plan),
        cmocka_unit_test(test_plan_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
