/*
 * Unit tests for prefetch.c: the fetchers are woken once per fill, when a
 * queue that came near its bound (bytes or records) has drained to a
 * quarter of it; never for a queue that was never near it (an idle or
 * slow topic), never twice within PREFETCH_WAKE_MIN_MS.  And
 * prefetch_wake_sent reads rd_kafka_offsets_for_times(timeout 0) as
 * librdkafka 2.0.2 returns it, against its own mock cluster: a wake is
 * counted when the partitions' leaders were known (a request went to
 * them), not when they were not yet (__TIMED_OUT too, nothing sent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "prefetch.h"

/* after rdkafka.h (prefetch.h) */
#include <librdkafka/rdkafka_mock.h>

/* 16 MiB and 100,000 records, the bridge's defaults; 1.5 KB records:
 * 11,184 of them fill the bytes. */
static void fill(struct prefetch *p)
{
    prefetch_init(p, 16384, 100000);
    for (int i = 0; i < 100; i++) {
        prefetch_record(p, 1500);
    }
}

static void test_wakes_once_per_fill(void **state)
{
    (void)state;
    struct prefetch p;
    fill(&p);
    int64_t t = 1000;
    assert_int_equal(prefetch_decide(&p, 5000, t), 0);      /* filling */
    assert_int_equal(prefetch_decide(&p, 9000, t), 0);      /* 3/4 of 16 MiB is 8,388 records */
    assert_int_equal(prefetch_decide(&p, 6000, t), 0);      /* draining */
    assert_int_equal(prefetch_decide(&p, 2797, t), 0);      /* just above a quarter */
    assert_int_equal(prefetch_decide(&p, 2700, t), 1);      /* drained: wake */
    assert_int_equal(prefetch_decide(&p, 100, t + 500), 0); /* once per fill */
    assert_int_equal(prefetch_decide(&p, 0, t + 900), 0);
    assert_int_equal(p.wakes, 1);
    /* the next fill */
    assert_int_equal(prefetch_decide(&p, 10000, t + 1000), 0);
    assert_int_equal(prefetch_decide(&p, 0, t + 1100), 1);
    assert_int_equal(p.wakes, 2);
}

static void test_never_near_the_bound(void **state)
{
    (void)state;
    struct prefetch p;
    fill(&p);
    for (int64_t t = 0; t < 10000; t += 10) {
        assert_int_equal(prefetch_decide(&p, t % 3000, t), 0);
    }
    assert_int_equal(p.wakes, 0);
}

static void test_not_twice_in_a_row(void **state)
{
    (void)state;
    struct prefetch p;
    fill(&p);
    assert_int_equal(prefetch_decide(&p, 9000, 1000), 0);
    assert_int_equal(prefetch_decide(&p, 0, 1000), 1);
    assert_int_equal(prefetch_decide(&p, 9000, 1005), 0);
    assert_int_equal(prefetch_decide(&p, 0, 1010), 0); /* within PREFETCH_WAKE_MIN_MS */
    assert_int_equal(prefetch_decide(&p, 0, 1000 + PREFETCH_WAKE_MIN_MS), 1);
}

/* A wake that sent nothing (no leader known yet) is tried again at a
 * later decision, not only after the next fill. */
static void test_unsent_tried_again(void **state)
{
    (void)state;
    struct prefetch p;
    fill(&p);
    assert_int_equal(prefetch_decide(&p, 9000, 1000), 0);
    assert_int_equal(prefetch_decide(&p, 100, 1000), 1);
    prefetch_unsent(&p);
    assert_int_equal(p.wakes, 0);
    assert_int_equal(prefetch_decide(&p, 100, 1005), 0); /* within PREFETCH_WAKE_MIN_MS */
    assert_int_equal(prefetch_decide(&p, 50, 1000 + PREFETCH_WAKE_MIN_MS), 1);
    assert_int_equal(p.wakes, 1);
    /* sent this time: once per fill again */
    assert_int_equal(prefetch_decide(&p, 0, 2000), 0);
}

/* Small records: the record bound (queued.min.messages) fills first. */
static void test_record_bound(void **state)
{
    (void)state;
    struct prefetch p;
    prefetch_init(&p, 16384, 1000);
    prefetch_record(&p, 10);
    assert_int_equal(prefetch_decide(&p, 749, 0), 0);
    assert_int_equal(p.high, 0);
    assert_int_equal(prefetch_decide(&p, 750, 0), 0);
    assert_int_equal(p.high, 1);
    assert_int_equal(prefetch_decide(&p, 251, 100), 0);
    assert_int_equal(prefetch_decide(&p, 250, 100), 1);
}

/* The average follows the records' size. */
static void test_average(void **state)
{
    (void)state;
    struct prefetch p;
    prefetch_init(&p, 1024, 100000);
    prefetch_record(&p, 100);
    assert_true(p.avg_bytes == 100);
    for (int i = 0; i < 1000; i++) {
        prefetch_record(&p, 2000);
    }
    assert_true(p.avg_bytes > 1990 && p.avg_bytes <= 2000);
    /* 1 MiB: 393 records of 2,000 bytes are 3/4 of it */
    assert_int_equal(prefetch_decide(&p, 390, 0), 0);
    assert_int_equal(p.high, 0);
    assert_int_equal(prefetch_decide(&p, 400, 0), 0);
    assert_int_equal(p.high, 1);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstraps)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    if (bootstraps != NULL) {
        assert_int_equal(
            rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)),
            RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", "prefetch", errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    return rk;
}

static rd_kafka_topic_partition_list_t *ends(const char *topic)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(list, topic, 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_topic_partition_list_add(list, topic, 1)->offset = RD_KAFKA_OFFSET_END;
    return list;
}

static void test_wake_sent(void **state)
{
    (void)state;
    rd_kafka_t *host = client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "events", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "other", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "third", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    char bootstraps[256];
    snprintf(bootstraps, sizeof(bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(mc));

    /* A new client, no broker up yet: __ALL_BROKERS_DOWN, nothing sent. */
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, bootstraps);
    rd_kafka_topic_partition_list_t *list = ends("events");
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list, 0);
    assert_int_not_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(prefetch_wake_sent(err, list), 0);
    rd_kafka_topic_partition_list_destroy(list);

    /* Once the leaders are known (a call that waits for its answers),
     * the same call sends a request for both partitions and returns
     * __TIMED_OUT, nobody waiting for the answers. */
    list = ends("events");
    assert_int_equal(rd_kafka_offsets_for_times(rk, list, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    list = ends("events");
    err = rd_kafka_offsets_for_times(rk, list, 0);
    assert_int_equal(err, RD_KAFKA_RESP_ERR__TIMED_OUT);
    assert_int_equal(prefetch_wake_sent(err, list), 2);
    rd_kafka_topic_partition_list_destroy(list);

    /* A topic whose leaders the client does not know yet, a broker up:
     * __TIMED_OUT as well, but only a metadata request went out. */
    list = ends("other");
    err = rd_kafka_offsets_for_times(rk, list, 0);
    assert_int_equal(err, RD_KAFKA_RESP_ERR__TIMED_OUT);
    assert_int_equal(prefetch_wake_sent(err, list), 0);
    rd_kafka_topic_partition_list_destroy(list);

    /* One partition whose leader is known and one whose leader is not:
     * the known one's element says NO_ERROR, yet nothing was sent. */
    list = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(list, "events", 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_topic_partition_list_add(list, "third", 0)->offset = RD_KAFKA_OFFSET_END;
    err = rd_kafka_offsets_for_times(rk, list, 0);
    assert_int_equal(err, RD_KAFKA_RESP_ERR__TIMED_OUT);
    assert_int_equal(list->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(prefetch_wake_sent(err, list), 0);
    rd_kafka_topic_partition_list_destroy(list);

    /* Errors that sent nothing. */
    list = ends("events");
    assert_int_equal(prefetch_wake_sent(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, list), 0);
    assert_int_equal(prefetch_wake_sent(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, list), 0);
    rd_kafka_topic_partition_list_destroy(list);

    rd_kafka_destroy(rk);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wakes_once_per_fill), cmocka_unit_test(test_never_near_the_bound),
        cmocka_unit_test(test_not_twice_in_a_row),  cmocka_unit_test(test_unsent_tried_again),
        cmocka_unit_test(test_record_bound),        cmocka_unit_test(test_average),
        cmocka_unit_test(test_wake_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
