/*
 * Unit tests for schedule.c (DESIGN section 5: nominal due times, the last
 * interval repeating, Retry-After, the window, 410 Gone) and for the
 * delay-topic names and the regex that finds them (kafka_delay_regex).
 * Whole delivery lives are simulated with late attempts to prove that
 * lateness never accumulates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "delivery.h"
#include "kafka.h"
#include "schedule.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define T0 1795000000000LL /* 2026-11-18, an arbitrary epoch-ms start */

static const char body_json[] =
    "{\"eventId\":\"0f1d5918-052d-4915-89a7-8cc9c4d33492\",\"eventType\":\"Subscribe\","
    "\"eventDetails\":{\"accountId\":\"0b98ef2c-f739-45f1-81e3-b2def2bb868f\"}}";

/* A conf with only what schedule.c and kafka_delay_regex read. */
static void conf_setup(struct conf *conf, int64_t *sched, size_t n, int64_t window_ms)
{
    memset(conf, 0, sizeof(*conf));
    conf->retry.schedule_ms = sched;
    conf->retry.n_schedule = n;
    conf->retry.window_ms = window_ms;
}

static struct delivery *new_delivery(void)
{
    struct payload *p = payload_new(body_json, strlen(body_json));
    struct delivery *dl =
        delivery_new("0f1d5918-052d-4915-89a7-8cc9c4d33492", "Subscribe",
                     "0b98ef2c-f739-45f1-81e3-b2def2bb868f", "ep-1", "https://example.com/h", p);
    payload_unref(p);
    return dl;
}

/* Records a failed attempt made at actual_ms and asks what comes next. */
static void fail_attempt(const struct conf *conf, struct delivery *dl, int64_t actual_ms,
                         enum delivery_outcome outcome, int64_t retry_after_ms,
                         struct schedule_decision *d)
{
    if (dl->n_attempts == 0) {
        dl->first_attempt_ms = actual_ms;
        dl->due_ms = actual_ms; /* attempt 1 is due when consumed */
    }
    (void)delivery_add_attempt(dl, actual_ms, 31, outcome == OUTCOME_GONE ? 410 : 503, NULL);
    dl->outcome = outcome;
    dl->retry_after_ms = retry_after_ms;
    memset(d, 0x5a, sizeof(*d));
    schedule_next(conf, dl, d);
}

/* ---- whole lives -------------------------------------------------------- */

/* Default schedule [5m], window 30m: attempts at 0, 5, ..., 30 min, each
 * made late (up to 4m59s), then the dead-letter topic. */
static void test_default_life_nominal(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct delivery *dl = new_delivery();
    static const int64_t lateness[] = {0, 4 * MIN + 59 * SEC, 3 * MIN, 1, 4 * MIN, 2 * MIN, 0};
    int64_t due_seen[16];
    size_t n_due = 0;
    struct schedule_decision d;

    int64_t actual = T0;
    fail_attempt(&conf, dl, actual, OUTCOME_RETRY, 0, &d);
    due_seen[n_due++] = dl->due_ms;
    while (d.action == SCHEDULE_PARK) {
        assert_true(n_due < 16);
        assert_int_equal(d.interval_ms, 5 * MIN);
        assert_null(d.reason);
        dl->due_ms = d.due_ms; /* the delay topic hands it back with this due time */
        actual = d.due_ms + lateness[n_due % 7];
        fail_attempt(&conf, dl, actual, OUTCOME_RETRY, 0, &d);
        due_seen[n_due++] = dl->due_ms;
    }
    /* 7 attempts, due exactly at 0, 5, 10, 15, 20, 25, 30 minutes. */
    assert_int_equal(n_due, 7);
    assert_int_equal(dl->n_attempts, 7);
    for (size_t i = 0; i < n_due; i++) {
        assert_int_equal(due_seen[i], T0 + (int64_t)i * 5 * MIN);
    }
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_non_null(d.reason);
    assert_string_equal(d.reason, "retry_window_expired");
    /* The first attempt's time is untouched by all this. */
    assert_int_equal(dl->first_attempt_ms, T0);
    delivery_destroy(dl);
}

/* [1s, 5s, 30s] with a 2m window: the last interval repeats; each decision
 * names the interval of its delay topic. */
static void test_multi_interval_life(void **state)
{
    (void)state;
    int64_t sched[] = {1 * SEC, 5 * SEC, 30 * SEC};
    struct conf conf;
    conf_setup(&conf, sched, 3, 2 * MIN);
    struct delivery *dl = new_delivery();
    static const int64_t want_due[] = {0, 1 * SEC, 6 * SEC, 36 * SEC, 66 * SEC, 96 * SEC};
    static const int64_t want_interval[] = {1 * SEC, 5 * SEC, 30 * SEC, 30 * SEC, 30 * SEC};
    struct schedule_decision d;

    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, 0, &d);
    size_t n = 0;
    while (d.action == SCHEDULE_PARK) {
        assert_true(n < 5);
        assert_int_equal(d.due_ms, T0 + want_due[n + 1]);
        assert_int_equal(d.interval_ms, want_interval[n]);
        dl->due_ms = d.due_ms;
        fail_attempt(&conf, dl, d.due_ms + 900, OUTCOME_RETRY, 0, &d); /* 900 ms late each time */
        n++;
    }
    assert_int_equal(n, 5); /* 6 attempts: 126s would be past the 120s window */
    assert_int_equal(dl->n_attempts, 6);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    delivery_destroy(dl);
}

static void test_schedule_interval(void **state)
{
    (void)state;
    int64_t sched[] = {1 * SEC, 5 * SEC, 30 * SEC};
    struct conf conf;
    conf_setup(&conf, sched, 3, 2 * MIN);
    assert_int_equal(schedule_interval(&conf, 1), 1 * SEC);
    assert_int_equal(schedule_interval(&conf, 2), 5 * SEC);
    assert_int_equal(schedule_interval(&conf, 3), 30 * SEC);
    assert_int_equal(schedule_interval(&conf, 4), 30 * SEC);
    assert_int_equal(schedule_interval(&conf, 1000), 30 * SEC);
    int64_t one[] = {5 * MIN};
    conf_setup(&conf, one, 1, 30 * MIN);
    assert_int_equal(schedule_interval(&conf, 1), 5 * MIN);
    assert_int_equal(schedule_interval(&conf, 7), 5 * MIN);
}

/* ---- the window edge ---------------------------------------------------- */

static void test_window_edge(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    struct schedule_decision d;
    struct delivery *dl = new_delivery();
    dl->first_attempt_ms = T0;
    dl->due_ms = T0 + 25 * MIN;
    dl->outcome = OUTCOME_RETRY;
    for (int i = 0; i < 6; i++) {
        (void)delivery_add_attempt(dl, T0 + i * 5 * MIN, 10, 500, NULL);
    }

    /* Next due exactly at first + window: allowed. */
    conf_setup(&conf, sched, 1, 30 * MIN);
    schedule_next(&conf, dl, &d);
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 30 * MIN);

    /* 1 ms beyond: dead. */
    conf_setup(&conf, sched, 1, 30 * MIN - 1);
    schedule_next(&conf, dl, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");

    /* A window shorter than the first interval: one attempt only. */
    struct delivery *dl2 = new_delivery();
    conf_setup(&conf, sched, 1, 5 * MIN - 1);
    fail_attempt(&conf, dl2, T0, OUTCOME_RETRY, 0, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    delivery_destroy(dl2);
    delivery_destroy(dl);
}

/* ---- circuit-breaker deferrals ------------------------------------------ */

/* Deferred at a slot (the circuit open, no attempt), or failed there: both
 * use the slot, and the next one is the nominal one.  Schedule [5s, 10s,
 * 20s], window 60s: slots at 0, 5, 15, 35, 55 s.  The delivery fails at 0,
 * is deferred at 5 (handled 3 s late), fails at 15, 35 and 55, then is
 * dead-lettered: all five slots of its window, as without the deferral.
 * Before the fix a deferral restarted the schedule from the late instant
 * (8 + 5 = 13 s), so every later slot moved and the window lost one. */
static void test_deferral_keeps_nominal_slots(void **state)
{
    (void)state;
    int64_t sched[] = {5 * SEC, 10 * SEC, 20 * SEC};
    struct conf conf;
    conf_setup(&conf, sched, 3, 60 * SEC);
    struct delivery *dl = new_delivery();
    struct schedule_decision d;

    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, 0, &d);
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 5 * SEC);
    dl->due_ms = d.due_ms;

    dl->outcome = OUTCOME_DEFERRED;
    int slots = schedule_deferred(&conf, dl, T0 + 8 * SEC, &d);
    assert_int_equal(slots, 1);
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 15 * SEC);
    assert_int_equal(d.interval_ms, 10 * SEC);
    dl->deferrals += slots;
    dl->due_ms = d.due_ms;

    static const int64_t next[] = {35 * SEC, 55 * SEC};
    for (size_t i = 0; i < 2; i++) {
        (void)delivery_add_attempt(dl, dl->due_ms + 2 * SEC, 31, 503, NULL);
        dl->outcome = OUTCOME_RETRY;
        schedule_next(&conf, dl, &d);
        assert_int_equal(d.action, SCHEDULE_PARK);
        assert_int_equal(d.due_ms, T0 + next[i]);
        assert_int_equal(d.interval_ms, 20 * SEC);
        dl->due_ms = d.due_ms;
    }
    (void)delivery_add_attempt(dl, dl->due_ms, 31, 503, NULL);
    schedule_next(&conf, dl, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    assert_int_equal(delivery_attempt_count(dl) + (size_t)dl->deferrals, 5);
    delivery_destroy(dl);
}

/* A deferral handled so late that the next slots are past already moves on
 * to the first slot still ahead (no burst of attempts due in the past),
 * counting the slots it passed; past the window it is dead. */
static void test_deferral_skips_past_slots(void **state)
{
    (void)state;
    int64_t sched[] = {5 * SEC, 10 * SEC, 20 * SEC};
    struct conf conf;
    conf_setup(&conf, sched, 3, 60 * SEC);
    struct delivery *dl = new_delivery();
    struct schedule_decision d;

    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, 0, &d);
    dl->due_ms = d.due_ms; /* slot 1, at 5 s */
    dl->outcome = OUTCOME_DEFERRED;
    int slots = schedule_deferred(&conf, dl, T0 + 17 * SEC, &d);
    assert_int_equal(slots, 2); /* 15 s passed: 35 s */
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 35 * SEC);
    assert_int_equal(d.interval_ms, 20 * SEC);

    /* At the slot itself (now == due): that one is taken, not skipped. */
    slots = schedule_deferred(&conf, dl, T0 + 15 * SEC - 1, &d);
    assert_int_equal(slots, 1);
    assert_int_equal(d.due_ms, T0 + 15 * SEC);

    slots = schedule_deferred(&conf, dl, T0 + 56 * SEC, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    assert_true(slots >= 1);
    delivery_destroy(dl);
}

/* ---- Retry-After -------------------------------------------------------- */

static void test_retry_after_later(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct delivery *dl = new_delivery();
    struct schedule_decision d;
    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, T0 + 12 * MIN, &d);
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 12 * MIN);
    assert_int_equal(d.interval_ms, 5 * MIN); /* parked on the schedule's delay topic */

    /* The deferred time is that attempt's due time: the next one follows it. */
    dl->due_ms = d.due_ms;
    fail_attempt(&conf, dl, T0 + 12 * MIN + 20, OUTCOME_RETRY, 0, &d);
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 17 * MIN);
    delivery_destroy(dl);
}

static void test_retry_after_earlier_ignored(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct schedule_decision d;
    static const int64_t earlier[] = {T0 - HOUR, T0 + 1, T0 + 1 * MIN, T0 + 5 * MIN - 1,
                                      T0 + 5 * MIN};
    for (size_t i = 0; i < sizeof(earlier) / sizeof(earlier[0]); i++) {
        struct delivery *dl = new_delivery();
        fail_attempt(&conf, dl, T0, OUTCOME_RETRY, earlier[i], &d);
        assert_int_equal(d.action, SCHEDULE_PARK);
        assert_int_equal(d.due_ms, T0 + 5 * MIN);
        delivery_destroy(dl);
    }
}

static void test_retry_after_window(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct schedule_decision d;

    /* Up to the window's end is honoured. */
    struct delivery *dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, T0 + 30 * MIN, &d);
    assert_int_equal(d.action, SCHEDULE_PARK);
    assert_int_equal(d.due_ms, T0 + 30 * MIN);
    delivery_destroy(dl);

    /* Beyond it, the delivery is dead even though the schedule had room. */
    dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, T0 + 30 * MIN + 1, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    delivery_destroy(dl);

    dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, T0 + 24 * HOUR, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    delivery_destroy(dl);
}

/* Retry-After values as servers send them, and as attackers do: never an
 * overflow (9223372036854775807 seconds once made secs * 1000 undefined),
 * a huge value saturates and dead-letters the delivery at once. */
static void test_retry_after_parse(void **state)
{
    (void)state;
    const int64_t now = T0;
    assert_int_equal(schedule_retry_after("7", now), now + 7 * SEC);
    assert_int_equal(schedule_retry_after(" 120 ", now), now + 120 * SEC);
    assert_int_equal(schedule_retry_after("0", now), 0);
    assert_int_equal(schedule_retry_after("", now), 0);
    assert_int_equal(schedule_retry_after("-5", now), 0);
    assert_int_equal(schedule_retry_after("5s", now), 0);
    assert_int_equal(schedule_retry_after("1.5", now), 0);
    assert_int_equal(schedule_retry_after("9223372036854775807", now),
                     now + SCHEDULE_RETRY_AFTER_MAX_MS);
    assert_int_equal(schedule_retry_after("99999999999999999999999999999999", now),
                     now + SCHEDULE_RETRY_AFTER_MAX_MS);
    /* HTTP-date (IMF-fixdate): T0 is 2026-11-18T11:06:40Z */
    assert_int_equal(schedule_retry_after("Wed, 18 Nov 2026 11:07:40 GMT", now), now + MIN);
    assert_int_equal(schedule_retry_after("Wed, 18 Nov 2026 11:06:40 GMT", now), 0);
    assert_int_equal(schedule_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), 0);
    assert_int_equal(schedule_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
                     now + SCHEDULE_RETRY_AFTER_MAX_MS);
    assert_int_equal(schedule_retry_after("tomorrow", now), 0);

    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct schedule_decision d;
    struct delivery *dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, schedule_retry_after("9223372036854775807", T0), &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "retry_window_expired");
    delivery_destroy(dl);
}

/* A long window with short intervals: the history keeps the first and the
 * latest attempts, the numbering and the schedule go on counting all of
 * them. */
static void test_capped_history(void **state)
{
    (void)state;
    int64_t sched[] = {1 * SEC, 2 * SEC, 3 * SEC};
    struct conf conf;
    conf_setup(&conf, sched, 3, 24 * HOUR);
    struct schedule_decision d;
    struct delivery *dl = new_delivery();
    int64_t at = T0;
    const int total = 200;
    for (int i = 0; i < total; i++) {
        fail_attempt(&conf, dl, at, OUTCOME_RETRY, 0, &d);
        assert_int_equal(d.action, SCHEDULE_PARK);
        assert_int_equal(d.interval_ms, i == 0 ? SEC : i == 1 ? 2 * SEC : 3 * SEC);
        dl->due_ms = d.due_ms;
        at = d.due_ms;
    }
    assert_int_equal(dl->n_attempts, ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST);
    assert_int_equal(dl->attempts_omitted, total - ATTEMPTS_KEEP_FIRST - ATTEMPTS_KEEP_LATEST);
    assert_int_equal(delivery_attempt_count(dl), total);
    for (int i = 0; i < ATTEMPTS_KEEP_FIRST; i++) {
        assert_int_equal(dl->attempts[i].n, i + 1);
    }
    for (int i = 0; i < ATTEMPTS_KEEP_LATEST; i++) {
        assert_int_equal(dl->attempts[ATTEMPTS_KEEP_FIRST + i].n,
                         total - ATTEMPTS_KEEP_LATEST + i + 1);
    }
    /* The record carries the count and reads back to the same history. */
    size_t len;
    char *rec = delivery_to_record(dl, &len);
    assert_non_null(rec);
    assert_true(len < 8192);
    assert_non_null(strstr(rec, "\"attemptsOmitted\":180"));
    char err[256];
    struct delivery *back = delivery_from_record(rec, len, err, sizeof(err));
    assert_non_null(back);
    assert_int_equal(delivery_attempt_count(back), total);
    assert_int_equal(back->n_attempts, dl->n_attempts);
    for (size_t i = 0; i < dl->n_attempts; i++) {
        assert_int_equal(back->attempts[i].n, dl->attempts[i].n);
        assert_int_equal(back->attempts[i].at_ms, dl->attempts[i].at_ms);
    }
    /* A forged count is refused, not turned into negative numbers. */
    size_t hlen = strlen(rec) + 32;
    char *huge = malloc(hlen);
    const char *pos = strstr(rec, "\"attemptsOmitted\":180");
    assert_non_null(pos);
    snprintf(huge, hlen, "%.*s\"attemptsOmitted\":2147483647%s", (int)(pos - rec), rec,
             pos + strlen("\"attemptsOmitted\":180"));
    assert_null(delivery_from_record(huge, strlen(huge), err, sizeof(err)));
    assert_non_null(strstr(err, "attemptsOmitted"));
    free(huge);
    free(rec);
    delivery_destroy(back);
    delivery_destroy(dl);
}

/* ---- outcomes that end the delivery ------------------------------------- */

static void test_gone_is_dead_at_once(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct schedule_decision d;

    struct delivery *dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_GONE, T0 + 1 * MIN, &d); /* window wide open */
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_non_null(d.reason);
    assert_string_equal(d.reason, "endpoint_gone");
    delivery_destroy(dl);

    /* Also after earlier failures, and at the window's end. */
    dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_RETRY, 0, &d);
    assert_int_equal(d.action, SCHEDULE_PARK);
    dl->due_ms = d.due_ms;
    fail_attempt(&conf, dl, d.due_ms, OUTCOME_GONE, 0, &d);
    assert_int_equal(d.action, SCHEDULE_DEAD);
    assert_string_equal(d.reason, "endpoint_gone");
    delivery_destroy(dl);
}

static void test_success_is_done(void **state)
{
    (void)state;
    int64_t sched[] = {5 * MIN};
    struct conf conf;
    conf_setup(&conf, sched, 1, 30 * MIN);
    struct schedule_decision d;

    struct delivery *dl = new_delivery();
    fail_attempt(&conf, dl, T0, OUTCOME_SUCCESS, 0, &d);
    assert_int_equal(d.action, SCHEDULE_DONE);
    delivery_destroy(dl);

    /* The last attempt of the window succeeding is still done, not dead. */
    dl = new_delivery();
    dl->first_attempt_ms = T0;
    dl->due_ms = T0 + 30 * MIN;
    for (int i = 0; i < 6; i++) {
        (void)delivery_add_attempt(dl, T0 + i * 5 * MIN, 10, 500, NULL);
    }
    (void)delivery_add_attempt(dl, T0 + 30 * MIN + 3 * MIN, 10, 200, NULL);
    dl->outcome = OUTCOME_SUCCESS;
    schedule_next(&conf, dl, &d);
    assert_int_equal(d.action, SCHEDULE_DONE);
    delivery_destroy(dl);
}

/* ---- delay topics -------------------------------------------------------- */

static void test_topic_name(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {300000, "webhook-delay-5m"},         {500, "webhook-delay-500ms"},
        {90000, "webhook-delay-90s"},         {60000, "webhook-delay-1m"},
        {7200000, "webhook-delay-2h"},        {0, "webhook-delay-0s"},
        {1000, "webhook-delay-1s"},           {1500, "webhook-delay-1500ms"},
        {5400000, "webhook-delay-90m"},       {86400000, "webhook-delay-24h"},
        {3600001, "webhook-delay-3600001ms"}, {61000, "webhook-delay-61s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        memset(buf, 'x', sizeof(buf));
        schedule_topic_name("webhook-delay", cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
    /* A short buffer is truncated, still terminated. */
    char small[10];
    schedule_topic_name("webhook-delay", 300000, small, sizeof(small));
    assert_string_equal(small, "webhook-d");
}

static void test_distinct_intervals(void **state)
{
    (void)state;
    int64_t sched[] = {1 * SEC, 5 * SEC, 1 * SEC, 30 * SEC, 5 * SEC, 30 * SEC, 30 * SEC};
    struct conf conf;
    conf_setup(&conf, sched, WB_ARRAY_LEN(sched), 2 * MIN);
    int64_t out[16];
    memset(out, 0, sizeof(out));
    assert_int_equal(schedule_distinct_intervals(&conf, out, 16), 3);
    assert_int_equal(out[0], 1 * SEC);
    assert_int_equal(out[1], 5 * SEC);
    assert_int_equal(out[2], 30 * SEC);
    assert_int_equal(out[3], 0);

    /* max is honoured: nothing written past it. */
    int64_t two[3] = {-1, -1, -1};
    assert_int_equal(schedule_distinct_intervals(&conf, two, 2), 2);
    assert_int_equal(two[0], 1 * SEC);
    assert_int_equal(two[1], 5 * SEC);
    assert_int_equal(two[2], -1);

    int64_t one[] = {5 * MIN};
    conf_setup(&conf, one, 1, 30 * MIN);
    assert_int_equal(schedule_distinct_intervals(&conf, out, 16), 1);
    assert_int_equal(out[0], 5 * MIN);

    int64_t same[] = {2 * SEC, 2 * SEC, 2 * SEC};
    conf_setup(&conf, same, 3, 30 * MIN);
    assert_int_equal(schedule_distinct_intervals(&conf, out, 16), 1);
    assert_int_equal(out[0], 2 * SEC);
}

static int regex_matches(const regex_t *re, const char *s)
{
    return regexec(re, s, 0, NULL, 0) == 0;
}

static void test_delay_regex(void **state)
{
    (void)state;
    struct conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.kafka.delay_prefix = (char *)"my.delay";
    char buf[600];
    kafka_delay_regex(&conf, buf, sizeof(buf));
    /* librdkafka treats a subscription as a regex only when it starts with ^. */
    assert_int_equal(buf[0], '^');
    assert_non_null(strstr(buf, "my\\.delay"));

    regex_t re;
    int rc = regcomp(&re, buf, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        print_error("regcomp(%s) failed: %d\n", buf, rc);
    }
    assert_int_equal(rc, 0);
    static const char *yes[] = {"my.delay-5m",  "my.delay-500ms", "my.delay-0s",
                                "my.delay-90s", "my.delay-2h",    "my.delay-3600001ms"};
    static const char *no[] = {"myXdelay-5m",   "my.delay-5m-x",  "my.delay-",     "my.delay",
                               "xmy.delay-5m",  "my.delay-5",     "my.delay-m",    "my.delay-5d",
                               "my.delay.5m",   "my.delay-5m ",   "my.delay--5m",  "my.delay-5M",
                               "my.delay-5m\n", "my.delay-1h30m", "my.delayed-5m", ""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!regex_matches(&re, yes[i])) {
            print_error("%s should match %s\n", buf, yes[i]);
        }
        assert_true(regex_matches(&re, yes[i]));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (regex_matches(&re, no[i])) {
            print_error("%s should not match \"%s\"\n", buf, no[i]);
        }
        assert_false(regex_matches(&re, no[i]));
    }
    regfree(&re);
}

/* Every topic name schedule_topic_name makes is found by the regex. */
static void test_delay_regex_finds_topic_names(void **state)
{
    (void)state;
    static const char *prefixes[] = {"webhook-delay", "a.b.c", "x_y-z.1"};
    static const int64_t intervals[] = {0,       1,       500,     999,      1000,
                                        1500,    59999,   60000,   90000,    300000,
                                        3599999, 3600000, 7200000, 86400000, 100LL * 24 * HOUR};
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        struct conf conf;
        memset(&conf, 0, sizeof(conf));
        conf.kafka.delay_prefix = (char *)prefixes[p];
        char buf[600];
        kafka_delay_regex(&conf, buf, sizeof(buf));
        regex_t re;
        assert_int_equal(regcomp(&re, buf, REG_EXTENDED | REG_NOSUB), 0);
        for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
            char name[256];
            schedule_topic_name(prefixes[p], intervals[i], name, sizeof(name));
            if (!regex_matches(&re, name)) {
                print_error("%s should match %s\n", buf, name);
            }
            assert_true(regex_matches(&re, name));
        }
        /* Other topics of the cluster are not consumed as delay topics. */
        assert_false(regex_matches(&re, "subscription-events"));
        assert_false(regex_matches(&re, "webhook-dead-letter"));
        regfree(&re);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_life_nominal),
        cmocka_unit_test(test_deferral_keeps_nominal_slots),
        cmocka_unit_test(test_deferral_skips_past_slots),
        cmocka_unit_test(test_multi_interval_life),
        cmocka_unit_test(test_schedule_interval),
        cmocka_unit_test(test_window_edge),
        cmocka_unit_test(test_retry_after_later),
        cmocka_unit_test(test_retry_after_earlier_ignored),
        cmocka_unit_test(test_retry_after_window),
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_capped_history),
        cmocka_unit_test(test_gone_is_dead_at_once),
        cmocka_unit_test(test_success_is_done),
        cmocka_unit_test(test_topic_name),
        cmocka_unit_test(test_distinct_intervals),
        cmocka_unit_test(test_delay_regex),
        cmocka_unit_test(test_delay_regex_finds_topic_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
