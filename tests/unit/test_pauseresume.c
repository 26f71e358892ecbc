/*
 * Pausing a partition whose prefetched records the application has not yet
 * polled, on librdkafka's mock cluster (one broker, one partition of
 * N_RECORDS records): every record must still reach the application once,
 * from the start offset on.  The suspicion tested: pausing drops the
 * partition's prefetched records (rd_kafka_toppar_pause_resume purges its
 * fetch queue) and, with no record consumed yet, does not move the fetch
 * position back to the application's (rktp_app_offset is INVALID), so a
 * resume would fetch past the dropped records.  librdkafka 2.0.2 does not
 * lose them: rktp_next_offset is the start offset, which the fetcher never
 * advances (it advances rktp_offsets.fetch_offset), and the resume's
 * version barrier restarts the fetch at rktp_next_offset (docs/pause.md has
 * the line numbers).  These cases hold the bridge to that (a librdkafka
 * upgrade that broke it would show here): pausing after the records are
 * prefetched at offset 0, at a mid-log offset (a committed one) and at a
 * logical one (auto.offset.reset), twice in a row, at once on assignment
 * (the bridge under backpressure), and the control (one record consumed
 * before the pause).  Each pause comes with records queued, never polled;
 * "exactly once" catches a loss (an offset missing) as well as dropped
 * records handed over after all and then fetched again (one twice).
 * Threads: the test's own and librdkafka's; the test polls one consumer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TOPIC "pauseloss"
#define N_RECORDS 1000
#define WAIT_MS 30000 /* generous: a slow, shared machine */
#define DUP_QUIET_MS 500

static rd_kafka_t *producer; /* owns the mock cluster */
static char bootstraps[256];
static int group_seq;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fail_msg("%s=%s: %s", name, value, errstr);
    }
}

/* The mock cluster, its topic and N_RECORDS records at offsets 0.. */
static int setup(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "test.mock.num.brokers", "1");
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (producer == NULL) {
        fprintf(stderr, "producer: %s\n", errstr);
        return -1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(producer);
    if (mc == NULL || rd_kafka_mock_topic_create(mc, TOPIC, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return -1;
    }
    snprintf(bootstraps, sizeof(bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(mc));
    for (int i = 0; i < N_RECORDS; i++) {
        char value[128];
        int len = snprintf(value, sizeof(value), "{\"record\":%d,\"pad\":\"%080d\"}", i, 0);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
                                        RD_KAFKA_V_VALUE(value, (size_t)len),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(producer, 10);
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return -1;
        }
    }
    return rd_kafka_flush(producer, WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_destroy(producer);
    return 0;
}

/* A consumer of a group of its own (nothing committed), partition 0
 * assigned at start (absolute or logical), small fetches so that the
 * queue holds a part of the log. */
static rd_kafka_t *consumer_at(int64_t start)
{
    char errstr[256];
    char group[64];
    snprintf(group, sizeof(group), "pauseloss-%d", ++group_seq);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstraps);
    set(conf, "group.id", group);
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "max.partition.fetch.bytes", "4096");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fail_msg("consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0)->offset = start;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    return rk;
}

static void pause_resume(rd_kafka_t *rk, int pause)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(rk, parts) : rd_kafka_resume_partitions(rk, parts);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Operations waiting in the consumer queue (records and librdkafka's own),
 * the application not polling. */
static int queued(rd_kafka_t *rk)
{
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    int n = (int)rd_kafka_queue_length(q);
    rd_kafka_queue_destroy(q);
    return n;
}

/* Waits (without polling) until librdkafka has queued more than `above`
 * records (and its own operations) for the application. */
static int wait_prefetched(rd_kafka_t *rk, int above)
{
    int64_t deadline = now_ms() + WAIT_MS;
    int n;
    while ((n = queued(rk)) <= above) {
        assert_true(now_ms() < deadline);
        sleep_ms(5);
    }
    return n;
}

/* Pauses with records prefetched.  The pause's version barrier makes them
 * outdated at once (they stay counted in the queue behind librdkafka's
 * own operation at its head, and poll discards them): after the resume
 * they can only come again from a new fetch. */
static void pause_prefetched(rd_kafka_t *rk, int above)
{
    int n = wait_prefetched(rk, above);
    pause_resume(rk, 1);
    sleep_ms(200); /* the pause served by librdkafka before the resume */
    print_message("  paused with %d operations queued\n", n);
}

/* Polls until the log's end: every offset from first to the end must come
 * exactly once, the first one first. */
static void consume_rest(rd_kafka_t *rk, int64_t first, int seen_before)
{
    static int seen[N_RECORDS];
    memset(seen, 0, sizeof(seen));
    int64_t got_first = -1;
    int n = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    while (n < N_RECORDS - first && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            assert_true(m->offset >= 0 && m->offset < N_RECORDS);
            if (got_first < 0) {
                got_first = m->offset;
            }
            if (seen[m->offset]++ == 0) {
                n++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    /* Then whatever comes within DUP_QUIET_MS of quiet: a record twice (the
     * dropped ones delivered after all, and fetched again) fails too. */
    int64_t quiet_until = now_ms() + DUP_QUIET_MS;
    while (now_ms() < quiet_until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (m != NULL) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset >= 0 && m->offset < N_RECORDS) {
                seen[m->offset]++;
                quiet_until = now_ms() + DUP_QUIET_MS;
            }
            rd_kafka_message_destroy(m);
        }
    }
    print_message("  after resume: first offset %lld, %d of %lld offsets (%d seen before)\n",
                  (long long)got_first, n, (long long)(N_RECORDS - first), seen_before);
    assert_int_equal(got_first, first);
    for (int64_t o = 0; o < N_RECORDS; o++) {
        if (seen[o] != (o >= first ? 1 : 0)) {
            fail_msg("offset %lld seen %d times", (long long)o, seen[o]);
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The suspected loss: records prefetched from offset 0, none polled, pause,
 * resume. */
static void test_pause_before_first_poll(void **state)
{
    (void)state;
    rd_kafka_t *rk = consumer_at(0);
    pause_prefetched(rk, 10);
    pause_resume(rk, 0);
    consume_rest(rk, 0, 0);
}

/* Started at a committed offset mid-log, as the bridge assigns. */
static void test_pause_before_first_poll_mid_log(void **state)
{
    (void)state;
    rd_kafka_t *rk = consumer_at(400);
    pause_prefetched(rk, 10);
    pause_resume(rk, 0);
    consume_rest(rk, 400, 0);
}

/* Nothing committed: the start offset is found by auto.offset.reset
 * (logical, then resolved), the bridge's case for a new group. */
static void test_pause_before_first_poll_reset(void **state)
{
    (void)state;
    rd_kafka_t *rk = consumer_at(RD_KAFKA_OFFSET_INVALID);
    pause_prefetched(rk, 10);
    pause_resume(rk, 0);
    consume_rest(rk, 0, 0);
}

/* Two pauses, each after a prefetch, before any poll. */
static void test_pause_twice_before_first_poll(void **state)
{
    (void)state;
    rd_kafka_t *rk = consumer_at(0);
    pause_prefetched(rk, 10);
    pause_resume(rk, 0);
    /* The second pause after the refetch's records are queued too. */
    pause_prefetched(rk, queued(rk) + 10);
    pause_resume(rk, 0);
    consume_rest(rk, 0, 0);
}

/* Paused right on assignment (the bridge when saturated), resumed later. */
static void test_pause_on_assignment(void **state)
{
    (void)state;
    rd_kafka_t *rk = consumer_at(0);
    pause_resume(rk, 1);
    sleep_ms(300);
    pause_resume(rk, 0);
    consume_rest(rk, 0, 0);
}

/* The control: one record polled, then the pause (the application's
 * offset is known) and the rest after the resume. */
static void test_pause_after_one_record(void **state)
{
    (void)state;
    rd_kafka_t *rk = consumer_at(0);
    rd_kafka_message_t *m = NULL;
    int64_t deadline = now_ms() + WAIT_MS;
    while ((m == NULL || m->err != RD_KAFKA_RESP_ERR_NO_ERROR) && now_ms() < deadline) {
        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
        m = rd_kafka_consumer_poll(rk, 100);
    }
    assert_non_null(m);
    assert_int_equal(m->offset, 0);
    rd_kafka_message_destroy(m);
    pause_prefetched(rk, 10);
    pause_resume(rk, 0);
    consume_rest(rk, 1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_before_first_poll),
        cmocka_unit_test(test_pause_before_first_poll_mid_log),
        cmocka_unit_test(test_pause_before_first_poll_reset),
        cmocka_unit_test(test_pause_twice_before_first_poll),
        cmocka_unit_test(test_pause_on_assignment),
        cmocka_unit_test(test_pause_after_one_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
