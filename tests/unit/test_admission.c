/*
 * Unit tests for admission.c: the per-endpoint policy as pure functions
 * (admission_decide, admission_share_of, admission_ewma), then the state a
 * worker keeps (the map, the FIFO, the slow mark, the overdue scan) driven
 * by hand, without threads or sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "admission.h"
#include "delivery.h"

#define T0 1700000000000LL /* a wall-clock instant, ms */

static const struct admission_limits lim = {.cap = 4,
                                            .budget = 100,
                                            .slow_cap = 1,
                                            .slow_ms = 5000,
                                            .quiet_ms = ADMISSION_BREAKER_QUIET_MS};

/* The verdict for an endpoint answering in answer_ms (-1: unknown). */
static enum admission_verdict decide_t(int running, int ahead, int failures, bool slow, int share,
                                       int64_t answer_ms, bool last_chance,
                                       enum admission_reason *reason)
{
    struct admission_view v = {.running = running,
                               .ahead = ahead,
                               .failures = failures,
                               .slow = slow,
                               .share = share,
                               .answer_ms = answer_ms,
                               .answered = answer_ms >= 0};
    return admission_decide(&lim, &v, last_chance, reason);
}

/* The same for an endpoint answering in 1 s: 20 waiting take 5 s. */
static enum admission_verdict decide(int running, int ahead, int failures, bool slow, int share,
                                     bool last_chance, enum admission_reason *reason)
{
    return decide_t(running, ahead, failures, slow, share, 1000, last_chance, reason);
}

/* A healthy endpoint: starts under its cap, waits in order, and is
 * deferred only beyond its share. */
static void test_decide_healthy(void **state)
{
    (void)state;
    enum admission_reason r;
    assert_int_equal(decide(0, 0, 0, false, 50, false, &r), ADMISSION_START);
    assert_int_equal(r, ADMISSION_NONE);
    assert_int_equal(decide(3, 0, 0, false, 50, false, &r), ADMISSION_START);
    assert_int_equal(decide(4, 0, 0, false, 50, false, &r), ADMISSION_WAIT);
    /* Under the cap but others wait first: in order. */
    assert_int_equal(decide(2, 1, 0, false, 50, false, &r), ADMISSION_WAIT);
    /* Answering in 1 s with a cap of 4, it starts 20 within 5 s: the 21st
     * waiting is beyond what it can start within slow_ms, whatever its
     * share of the budget; a last chance too (not held in the budget). */
    assert_int_equal(decide(4, 19, 0, false, 1000, false, &r), ADMISSION_WAIT);
    assert_int_equal(decide(4, 20, 0, false, 1000, false, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SHARE);
    assert_int_equal(decide(4, 20, 0, false, 1000, true, &r), ADMISSION_DEFER);
    /* Once its backlog is half of that (10 waiting: 2.5 s), it holds at
     * most its fair part of the budget (the share). */
    assert_int_equal(decide(4, 9, 0, false, 10, false, &r), ADMISSION_WAIT);
    assert_int_equal(decide(4, 10, 0, false, 10, false, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SHARE);
    assert_int_equal(decide(4, 10, 0, false, 20, false, &r), ADMISSION_WAIT);
    /* A fast endpoint (under slow_ms / 10: 499 ms here) is never bound by
     * the share, however many wait: on a saturated machine its attempts
     * look slower than they are and its backlog drains at the speed of the
     * CPU (a burst, the noise of a full budget).  Nor is one whose answer
     * time is not known yet. */
    assert_int_equal(decide_t(4, 100000, 0, false, 50, 499, false, &r), ADMISSION_WAIT);
    assert_int_equal(decide_t(4, 100000, 0, false, 50, 500, false, &r), ADMISSION_DEFER);
    assert_int_equal(decide_t(4, 39, 0, false, 50, 500, false, &r), ADMISSION_WAIT);
    assert_int_equal(decide_t(4, 40, 0, false, 50, 500, false, &r), ADMISSION_DEFER);
    assert_int_equal(decide_t(4, 100000, 0, false, 50, -1, false, &r), ADMISSION_WAIT);
    assert_int_equal(decide_t(4, 100000, 0, false, INT_MAX, -1, false, &r), ADMISSION_WAIT);
    /* Before its first answer (the answer time is the age of its oldest
     * attempt) it is bound from slow_ms / 25 (200 ms here): a new endpoint
     * that answers nothing is known before its deliveries fill the
     * budget.  Once answered, 200 ms is a fast endpoint again. */
    struct admission_view u = {
        .running = 4, .ahead = 100000, .share = 50, .answer_ms = 200, .answered = false};
    assert_int_equal(admission_decide(&lim, &u, false, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SHARE);
    u.answer_ms = 199;
    assert_int_equal(admission_decide(&lim, &u, false, &r), ADMISSION_WAIT);
    u.answer_ms = 200;
    u.answered = true;
    assert_int_equal(admission_decide(&lim, &u, false, &r), ADMISSION_WAIT);
    /* The share rule is off with the slow threshold. */
    struct admission_limits off = lim;
    off.slow_ms = 0;
    struct admission_view v = {
        .running = 4, .ahead = 1000, .failures = 0, .slow = false, .share = 50, .answer_ms = 9000};
    assert_int_equal(admission_decide(&off, &v, false, &r), ADMISSION_WAIT);
}

/* The breaker keeps its semantics: one probe, a last chance under the cap,
 * nothing waits. */
static void test_decide_circuit(void **state)
{
    (void)state;
    enum admission_reason r;
    int open = ADMISSION_BREAKER_FAILURES;
    assert_int_equal(decide(0, 0, open, false, 50, false, &r), ADMISSION_START); /* the probe */
    assert_int_equal(decide(1, 0, open, false, 50, false, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_CIRCUIT);
    assert_int_equal(decide(1, 0, open, false, 50, true, &r), ADMISSION_START);
    assert_int_equal(decide(4, 0, open, false, 50, true, &r), ADMISSION_DEFER);
    assert_int_equal(decide(1, 0, open - 1, false, 50, false, &r), ADMISSION_START);
}

/* A slow endpoint: at most slow_cap at once, nothing waits but a last
 * chance, and that within the share. */
static void test_decide_slow(void **state)
{
    (void)state;
    enum admission_reason r;
    assert_int_equal(decide(0, 0, 0, true, 50, false, &r), ADMISSION_START);
    assert_int_equal(decide(1, 0, 0, true, 50, false, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SLOW);
    assert_int_equal(decide(1, 0, 0, true, 50, true, &r), ADMISSION_WAIT);
    assert_int_equal(decide(1, 49, 0, true, 50, true, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SHARE);
    /* A slow cap above the cap does not raise it. */
    struct admission_limits wide = lim;
    wide.slow_cap = 10;
    struct admission_view v = {
        .running = 4, .ahead = 0, .failures = 0, .slow = true, .share = 50, .answer_ms = 9000};
    assert_int_equal(admission_decide(&wide, &v, false, &r), ADMISSION_DEFER);
}

static void test_share_of(void **state)
{
    (void)state;
    assert_int_equal(admission_share_of(&lim, 0), 100);
    assert_int_equal(admission_share_of(&lim, 1), 100);
    assert_int_equal(admission_share_of(&lim, 2), 50);
    assert_int_equal(admission_share_of(&lim, 3), 33);
    assert_int_equal(admission_share_of(&lim, 1000), 4); /* never below the cap */
    struct admission_limits none = lim;
    none.budget = 0;
    assert_int_equal(admission_share_of(&none, 5), INT_MAX);
}

static void test_ewma(void **state)
{
    (void)state;
    assert_int_equal(admission_ewma(-1, 9000), 9000);
    assert_int_equal(admission_ewma(-1, -5), 0);
    /* From fast to 9 s answers: over 5 s after 7 answers. */
    int64_t e = admission_ewma(-1, 50);
    int n = 0;
    while (e <= 5000) {
        e = admission_ewma(e, 9000);
        n++;
    }
    assert_int_equal(n, 7);
    /* One outlier among fast answers barely moves it. */
    assert_true(admission_ewma(5, 200) < 30);
    /* And back: under 5 s after 5 quick answers. */
    n = 0;
    while (e > 5000) {
        e = admission_ewma(e, 50);
        n++;
    }
    assert_true(n <= 5);
}

static struct delivery *dl_new(const char *event_id, int last_chance)
{
    struct payload *p = payload_new("{}", 2);
    struct delivery *dl = delivery_new(event_id, "t", "a", "ep", "http://127.0.0.1:1/", p);
    payload_unref(p);
    dl->last_chance = last_chance;
    return dl;
}

/* The worker's side: share from the endpoints known, the FIFO in order,
 * the slow mark from the scan and from the average, what is remembered. */
static void test_state(void **state)
{
    (void)state;
    struct admission_limits l = {.cap = 1, .budget = 4, .slow_cap = 1, .slow_ms = 1000};
    struct admission a;
    enum admission_reason r;
    enum admission_verdict v;
    admission_init(&a, &l);

    struct admission_ep *ep = admission_get(&a, "ep-1");
    assert_ptr_equal(admission_get(&a, "ep-1"), ep);
    struct delivery *d0 = dl_new("e0", 0), *d1 = dl_new("e1", 0), *d2 = dl_new("e2", 1);
    struct delivery *d3 = dl_new("e3", 0), *d4 = dl_new("e4", 0);
    assert_int_equal(admission_check(&a, ep, d0, &r), ADMISSION_START);
    ep->running++;
    assert_int_equal(admission_check(&a, ep, d1, &r), ADMISSION_WAIT);
    admission_wait(ep, d1);
    /* A second endpoint halves the share: 4 / 2 = 2 = running + waiting.
     * While the answer time is unknown, over the share still waits... */
    struct admission_ep *other = admission_get(&a, "ep-2");
    assert_int_equal(a.count, 2);
    assert_int_equal(admission_check(&a, ep, d3, &r), ADMISSION_WAIT);
    /* ...but once the scan finds its attempt running for 0.3 s (before
     * any answer, the age stands for the answer time): 1 waiting is 0.3 s
     * of backlog, 2 would be 0.6 s, over half of the 1 s threshold and
     * over the share: deferred. */
    admission_scan_begin(&a);
    admission_running(&a, ep, 300);
    assert_false(admission_slow(&a, ep));
    assert_int_equal(admission_check(&a, ep, d3, &r), ADMISSION_WAIT); /* 1 ahead */
    ep->waiting++; /* as if another waited: 2 ahead */
    assert_int_equal(admission_check(&a, ep, d3, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SHARE);
    ep->waiting--;
    admission_release(&a, other); /* idle: forgotten */
    assert_int_equal(a.count, 1);
    assert_int_equal(admission_check(&a, ep, d2, &r), ADMISSION_WAIT);
    admission_wait(ep, d2);
    assert_int_equal(admission_check(&a, ep, d3, &r), ADMISSION_WAIT);
    admission_wait(ep, d3);
    assert_int_equal(ep->waiting, 3);

    /* Not slow: nothing moves while the one slot is taken. */
    assert_null(admission_next(&a, ep, &v, &r));
    /* The scan finds the attempt running past slow_ms: the waiting ones are
     * deferred, in order, but the last chance (d2) stays. */
    admission_scan_begin(&a);
    admission_running(&a, ep, 1001);
    assert_true(admission_slow(&a, ep));
    assert_ptr_equal(admission_next(&a, ep, &v, &r), d1);
    assert_int_equal(v, ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SLOW);
    assert_ptr_equal(admission_next(&a, ep, &v, &r), d3);
    assert_int_equal(v, ADMISSION_DEFER);
    assert_null(admission_next(&a, ep, &v, &r));
    assert_int_equal(ep->waiting, 1);
    assert_ptr_equal(ep->wait_head, d2);
    assert_ptr_equal(ep->wait_tail, d2);
    /* The slow answer ends: the average keeps it slow with nothing
     * overdue; the last chance starts in the freed slot. */
    admission_answered(&a, ep, 9000, false, T0);
    admission_scan_begin(&a);
    assert_int_equal(ep->overdue, 0);
    assert_true(admission_slow(&a, ep));
    assert_int_equal(ep->failures, 0); /* a 2xx: the breaker never counts it */
    assert_ptr_equal(admission_next(&a, ep, &v, &r), d2);
    assert_int_equal(v, ADMISSION_START);
    ep->running++;
    assert_int_equal(admission_check(&a, ep, d4, &r), ADMISSION_DEFER);
    assert_int_equal(r, ADMISSION_SLOW);
    admission_answered(&a, ep, 9000, false, T0);
    /* Idle but slow: remembered, until fast answers bring it back. */
    admission_release(&a, ep);
    assert_int_equal(a.count, 1);
    ep = admission_get(&a, "ep-1");
    assert_true(admission_slow(&a, ep));
    for (int i = 0; i < 30 && admission_slow(&a, ep); i++) {
        ep->running++;
        admission_answered(&a, ep, 20, false, T0);
    }
    assert_false(admission_slow(&a, ep));
    admission_release(&a, ep);
    assert_int_equal(a.count, 0);

    /* Failures are remembered; the sweep at stop forgets everything idle. */
    ep = admission_get(&a, "ep-3");
    ep->running++;
    admission_answered(&a, ep, 10, true, T0);
    admission_release(&a, ep);
    assert_int_equal(a.count, 1);
    admission_sweep(&a);
    assert_int_equal(a.count, 0);

    admission_deinit(&a);
    delivery_destroy(d0);
    delivery_destroy(d1);
    delivery_destroy(d2);
    delivery_destroy(d3);
    delivery_destroy(d4);
}

/* Fails attempt after attempt of ep at now. */
static void fail_n(const struct admission *a, struct admission_ep *ep, int n, int64_t now)
{
    for (int i = 0; i < n; i++) {
        ep->running++;
        admission_answered(a, ep, 10, true, now);
    }
}

/* The breaker opens on an endpoint that has not succeeded for
 * ADMISSION_BREAKER_QUIET_MS, not on one that still answers part of its
 * deliveries (every first attempt refused, every retry taken, say). */
static void test_breaker_quiet(void **state)
{
    (void)state;
    struct admission a;
    admission_init(&a, &lim);

    /* Never succeeded: failures in a row from its first answer on open it
     * once the quiet time has passed since that answer, not before (a
     * restarted bridge knows nothing of the endpoint yet). */
    struct admission_ep *dead = admission_get(&a, "dead");
    fail_n(&a, dead, 3 * ADMISSION_BREAKER_FAILURES, T0);
    assert_false(admission_circuit_open(dead));
    fail_n(&a, dead, 1, T0 + ADMISSION_BREAKER_QUIET_MS - 1);
    assert_false(admission_circuit_open(dead));
    fail_n(&a, dead, 1, T0 + ADMISSION_BREAKER_QUIET_MS);
    assert_true(admission_circuit_open(dead));

    /* Answers its retries: a success among the failures keeps it closed,
     * however many fail in a row after it, within the quiet time. */
    struct admission_ep *half = admission_get(&a, "half");
    int64_t now = T0;
    for (int round = 0; round < 20; round++) {
        half->running++;
        admission_answered(&a, half, 10, false, now);
        fail_n(&a, half, 3 * ADMISSION_BREAKER_FAILURES, now + 100);
        assert_false(admission_circuit_open(half));
        now += 1000;
    }
    /* Its last success grows old: the next failure opens it. */
    fail_n(&a, half, 1, now + ADMISSION_BREAKER_QUIET_MS - 1001);
    assert_false(admission_circuit_open(half));
    fail_n(&a, half, 1, now - 1000 + ADMISSION_BREAKER_QUIET_MS);
    assert_true(admission_circuit_open(half));
    /* The probe succeeds: closed again. */
    half->running++;
    admission_answered(&a, half, 10, false, now + ADMISSION_BREAKER_QUIET_MS + 1);
    assert_false(admission_circuit_open(half));

    dead->running = 0;
    half->running = 0;
    admission_sweep(&a);
    admission_deinit(&a);
}

/* The scan sheds what waits beyond the share once the answer time is
 * known better, the newest first, even if nothing new comes. */
static void test_shed(void **state)
{
    (void)state;
    struct admission_limits l = {.cap = 1, .budget = 4, .slow_cap = 1, .slow_ms = 1000};
    struct admission a;
    enum admission_reason r;
    admission_init(&a, &l);
    struct admission_ep *ep = admission_get(&a, "ep-1");
    ep->running = 1;
    struct delivery *d[4];
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof(id), "e%d", i);
        d[i] = dl_new(id, 0);
        assert_int_equal(admission_check(&a, ep, d[i], &r), ADMISSION_WAIT); /* unknown */
        admission_wait(ep, d[i]);
    }
    assert_null(admission_shed(&a, ep));
    /* 0.3 s: the 4th has 0.9 s of backlog, past half of 1 s, at the share. */
    admission_scan_begin(&a);
    admission_running(&a, ep, 300);
    struct delivery *cut = admission_shed(&a, ep);
    assert_ptr_equal(cut, d[3]);
    assert_null(cut->next);
    assert_int_equal(ep->waiting, 3);
    assert_ptr_equal(ep->wait_tail, d[2]);
    assert_null(admission_shed(&a, ep));
    /* 0.6 s: the 3rd has 1.2 s of backlog, past the whole 1 s. */
    admission_scan_begin(&a);
    admission_running(&a, ep, 600);
    cut = admission_shed(&a, ep);
    assert_ptr_equal(cut, d[2]);
    assert_int_equal(ep->waiting, 2);
    assert_ptr_equal(ep->wait_tail, d[1]);
    assert_null(d[1]->next);
    /* Slow: admission_next defers its waiting, not the shed. */
    admission_scan_begin(&a);
    admission_running(&a, ep, 1001);
    assert_null(admission_shed(&a, ep));
    while (admission_take(ep) != NULL) {
    }
    ep->running = 0;
    admission_deinit(&a);
    for (int i = 0; i < 4; i++) {
        delivery_destroy(d[i]);
    }
}

/* The map grows and shrinks with the endpoints known. */
static void test_many_endpoints(void **state)
{
    (void)state;
    struct admission a;
    admission_init(&a, &lim);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "ep-%d", i);
        admission_get(&a, id)->running = 1;
    }
    assert_int_equal(a.count, 1000);
    assert_int_equal(admission_share_of(&a.lim, a.count), lim.cap);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "ep-%d", i);
        struct admission_ep *ep = admission_get(&a, id);
        ep->running = 0;
        admission_release(&a, ep);
    }
    assert_int_equal(a.count, 0);
    assert_true(a.n_buckets <= 16);
    admission_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_healthy), cmocka_unit_test(test_decide_circuit),
        cmocka_unit_test(test_decide_slow),    cmocka_unit_test(test_share_of),
        cmocka_unit_test(test_ewma),           cmocka_unit_test(test_state),
        cmocka_unit_test(test_shed),           cmocka_unit_test(test_many_endpoints),
        cmocka_unit_test(test_breaker_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
