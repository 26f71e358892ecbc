/*
 * Unit tests for prefetch.c: the fetchers are woken once per fill, when a
 * queue that came near its bound (bytes or records) has drained to a
 * quarter of it; never for a queue that was never near it (an idle or
 * slow topic), never twice within PREFETCH_WAKE_MIN_MS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "prefetch.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wakes_once_per_fill),
        cmocka_unit_test(test_never_near_the_bound),
        cmocka_unit_test(test_not_twice_in_a_row),
        cmocka_unit_test(test_record_bound),
        cmocka_unit_test(test_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
