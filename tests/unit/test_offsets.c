/*
 * Unit tests for offsets.c: only the contiguous resolved prefix of each
 * partition is stored, whatever order deliveries finish in; partitions are
 * independent; abandoned records block their partition; forgotten
 * partitions survive late releases; releases from many threads at once
 * (meant to run under valgrind, ASan and TSan as well).
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

#include "offsets.h"

#define ABSENT (-1000)

/* The offset reported for (topic, partition) in list, or ABSENT. */
static int64_t offset_in(const rd_kafka_topic_partition_list_t *list, const char *topic,
                         int32_t partition)
{
    if (list == NULL) {
        return ABSENT;
    }
    int64_t found = ABSENT;
    for (int i = 0; i < list->cnt; i++) {
        if (list->elems[i].partition == partition && strcmp(list->elems[i].topic, topic) == 0) {
            assert_int_equal(found, ABSENT); /* each partition at most once */
            found = list->elems[i].offset;
        }
    }
    return found;
}

/* Collects and expects exactly one partition reported, at want. */
static void expect_one(struct offsets *o, const char *topic, int32_t partition, int64_t want)
{
    rd_kafka_topic_partition_list_t *list = offsets_collect(o);
    assert_non_null(list);
    assert_int_equal(list->cnt, 1);
    assert_int_equal(offset_in(list, topic, partition), want);
    rd_kafka_topic_partition_list_destroy(list);
}

static void expect_nothing(struct offsets *o)
{
    rd_kafka_topic_partition_list_t *list = offsets_collect(o);
    if (list != NULL) {
        print_error("expected no progress, got %d partitions (first %s[%d] @ %lld)\n", list->cnt,
                    list->elems[0].topic, (int)list->elems[0].partition,
                    (long long)list->elems[0].offset);
        rd_kafka_topic_partition_list_destroy(list);
        fail();
    }
}

static void test_in_order(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e[5];
    for (int i = 0; i < 5; i++) {
        e[i] = offsets_track(o, "events", 0, 100 + i, 1);
    }
    assert_int_equal(offsets_pending(o), 5);
    expect_nothing(o); /* nothing resolved yet */
    offsets_release(e[0]);
    offsets_release(e[1]);
    expect_one(o, "events", 0, 102); /* the next record to consume */
    assert_int_equal(offsets_pending(o), 3);
    offsets_release(e[2]);
    offsets_release(e[3]);
    offsets_release(e[4]);
    expect_one(o, "events", 0, 105);
    assert_int_equal(offsets_pending(o), 0);
    expect_nothing(o);
    offsets_destroy(o);
}

static void test_out_of_order(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e[10];
    for (int i = 0; i < 10; i++) {
        e[i] = offsets_track(o, "events", 3, i, 1);
    }
    for (int i = 5; i < 10; i++) {
        offsets_release(e[i]);
    }
    expect_nothing(o); /* 0..4 are still in flight: storing 10 would lose them */
    assert_int_equal(offsets_pending(o), 10);
    offsets_release(e[2]);
    offsets_release(e[0]);
    expect_one(o, "events", 3, 1); /* 0 done, 1 is not */
    offsets_release(e[4]);
    offsets_release(e[1]);
    expect_one(o, "events", 3, 3); /* 3 still holds 4..9 */
    offsets_release(e[3]);
    expect_one(o, "events", 3, 10);
    assert_int_equal(offsets_pending(o), 0);
    offsets_destroy(o);
}

static void test_zero_deliveries(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    (void)offsets_track(o, "events", 0, 7, 0);
    expect_one(o, "events", 0, 8);
    /* Behind an unresolved record, a record with no deliveries waits. */
    struct offsets_entry *e = offsets_track(o, "events", 0, 8, 1);
    (void)offsets_track(o, "events", 0, 9, 0);
    (void)offsets_track(o, "events", 0, 10, 0);
    expect_nothing(o);
    offsets_release(e);
    expect_one(o, "events", 0, 11);
    /* Offsets may have gaps (compaction, transactions): the last one counts. */
    (void)offsets_track(o, "events", 0, 20, 0);
    (void)offsets_track(o, "events", 0, 35, 0);
    expect_one(o, "events", 0, 36);
    offsets_destroy(o);
}

static void test_partitions_independent(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    /* Same partition numbers in two topics, interleaved tracking. */
    struct offsets_entry *a0[3], *a1[3], *b0[3];
    for (int i = 0; i < 3; i++) {
        a0[i] = offsets_track(o, "a", 0, i, 1);
        a1[i] = offsets_track(o, "a", 1, 50 + i, 1);
        b0[i] = offsets_track(o, "b", 0, 900 + i, 1);
    }
    offsets_release(a1[0]);
    offsets_release(a1[1]);
    offsets_release(b0[2]); /* b[0] blocked behind 900 and 901 */
    expect_one(o, "a", 1, 52);

    offsets_release(a0[0]);
    offsets_release(b0[0]);
    offsets_release(b0[1]);
    rd_kafka_topic_partition_list_t *list = offsets_collect(o);
    assert_non_null(list);
    assert_int_equal(list->cnt, 2);
    assert_int_equal(offset_in(list, "a", 0), 1);
    assert_int_equal(offset_in(list, "b", 0), 903);
    assert_int_equal(offset_in(list, "a", 1), ABSENT); /* did not advance */
    rd_kafka_topic_partition_list_destroy(list);

    offsets_release(a0[1]);
    offsets_release(a0[2]);
    offsets_release(a1[2]);
    list = offsets_collect(o);
    assert_non_null(list);
    assert_int_equal(list->cnt, 2);
    assert_int_equal(offset_in(list, "a", 0), 3);
    assert_int_equal(offset_in(list, "a", 1), 53);
    rd_kafka_topic_partition_list_destroy(list);
    expect_nothing(o);
    assert_int_equal(offsets_pending(o), 0);
    offsets_destroy(o);
}

static void test_many_partitions(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    enum { NP = 64, NR = 20 };
    static struct offsets_entry *e[NP][NR];
    for (int r = 0; r < NR; r++) {
        for (int p = 0; p < NP; p++) {
            e[p][r] = offsets_track(o, p % 2 ? "odd" : "even", p, r, 1);
        }
    }
    /* Partition p gets its first p % NR records resolved. */
    for (int p = 0; p < NP; p++) {
        for (int r = NR - 1; r >= 0; r--) {
            if (r < p % NR) {
                offsets_release(e[p][r]);
            }
        }
    }
    rd_kafka_topic_partition_list_t *list = offsets_collect(o);
    assert_non_null(list);
    int advanced = 0;
    for (int p = 0; p < NP; p++) {
        int64_t got = offset_in(list, p % 2 ? "odd" : "even", p);
        if (p % NR == 0) {
            assert_int_equal(got, ABSENT);
        } else {
            assert_int_equal(got, p % NR);
            advanced++;
        }
    }
    assert_int_equal(list->cnt, advanced);
    rd_kafka_topic_partition_list_destroy(list);
    for (int p = 0; p < NP; p++) {
        for (int r = p % NR; r < NR; r++) {
            offsets_release(e[p][r]);
        }
    }
    list = offsets_collect(o);
    assert_non_null(list);
    assert_int_equal(list->cnt, NP);
    for (int p = 0; p < NP; p++) {
        assert_int_equal(offset_in(list, p % 2 ? "odd" : "even", p), NR);
    }
    rd_kafka_topic_partition_list_destroy(list);
    offsets_destroy(o);
}

static void test_three_deliveries(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e = offsets_track(o, "events", 0, 41, 3);
    offsets_release(e);
    expect_nothing(o);
    offsets_release(e);
    expect_nothing(o);
    assert_int_equal(offsets_pending(o), 1);
    offsets_release(e);
    expect_one(o, "events", 0, 42);
    assert_int_equal(offsets_pending(o), 0);
    offsets_destroy(o);
}

static void test_collect_only_when_advanced(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    expect_nothing(o); /* empty tracker */
    struct offsets_entry *e0 = offsets_track(o, "events", 0, 0, 1);
    struct offsets_entry *e1 = offsets_track(o, "events", 1, 0, 1);
    offsets_release(e0);
    expect_one(o, "events", 0, 1);
    expect_nothing(o); /* no change since */
    expect_nothing(o);
    offsets_release(e1);
    expect_one(o, "events", 1, 1); /* only the partition that moved */
    expect_nothing(o);
    offsets_destroy(o);
}

static void test_abandon_blocks(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e[6];
    for (int i = 0; i < 4; i++) {
        e[i] = offsets_track(o, "events", 0, i, 1);
    }
    struct offsets_entry *two = offsets_track(o, "events", 1, 0, 2);
    struct offsets_entry *other = offsets_track(o, "events", 2, 0, 1);

    offsets_release(e[0]);
    offsets_abandon(e[1]);
    offsets_release(e[2]);
    offsets_release(e[3]);
    expect_one(o, "events", 0, 1); /* 0 stored, nothing from 1 on */
    e[4] = offsets_track(o, "events", 0, 4, 0);
    e[5] = offsets_track(o, "events", 0, 5, 1);
    offsets_release(e[5]);
    expect_nothing(o);
    expect_nothing(o);
    assert_int_equal(offsets_pending(o), 7); /* 1..5 of p0, one each in p1 and p2 */

    /* Abandoning one of two deliveries blocks even when the other resolves. */
    offsets_abandon(two);
    offsets_release(two);
    expect_nothing(o);

    /* Other partitions go on. */
    offsets_release(other);
    expect_one(o, "events", 2, 1);

    offsets_forget(o, "events", 0);
    offsets_forget(o, "events", 1);
    assert_int_equal(offsets_pending(o), 0);
    expect_nothing(o);
    offsets_destroy(o);
}

/* ---- forget, late releases ---------------------------------------------- */

struct releaser {
    struct offsets_entry **e;
    size_t n;
    int times;
};

static void *release_thread(void *arg)
{
    struct releaser *r = arg;
    for (int t = 0; t < r->times; t++) {
        for (size_t i = 0; i < r->n; i++) {
            offsets_release(r->e[i]);
        }
    }
    return NULL;
}

static void test_forget_then_late_release(void **state)
{
    (void)state;
    enum { N = 100 };
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e[N];
    struct offsets_entry *keep[N];
    for (int i = 0; i < N; i++) {
        e[i] = offsets_track(o, "events", 0, i, 2);
        keep[i] = offsets_track(o, "events", 1, i, 1);
    }
    for (int i = 0; i < N / 2; i++) {
        offsets_release(e[i]); /* one of two deliveries resolved */
    }
    /* Partition 0 revoked: collect first, then forget. */
    expect_nothing(o);
    offsets_forget(o, "events", 0);
    offsets_forget(o, "events", 77); /* unknown: no-op */
    offsets_forget(o, "unknown", 0);
    assert_int_equal(offsets_pending(o), N);

    /* The workers finish afterwards, on their own threads, concurrently:
     * e[0..49] have one delivery left, e[50..99] two. */
    struct releaser r0 = {e + N / 2, N / 2, 1};
    struct releaser r1 = {e + N / 2, N / 2, 1};
    struct releaser r2 = {e, N / 2, 1};
    pthread_t t0, t1, t2;
    assert_int_equal(pthread_create(&t0, NULL, release_thread, &r0), 0);
    assert_int_equal(pthread_create(&t1, NULL, release_thread, &r1), 0);
    assert_int_equal(pthread_create(&t2, NULL, release_thread, &r2), 0);
    assert_int_equal(pthread_join(t0, NULL), 0);
    assert_int_equal(pthread_join(t1, NULL), 0);
    assert_int_equal(pthread_join(t2, NULL), 0);
    expect_nothing(o); /* the forgotten partition is never reported */

    /* The partition comes back (re-assigned): tracked afresh from the
     * committed offset. */
    struct offsets_entry *again = offsets_track(o, "events", 0, 50, 1);
    offsets_release(again);
    expect_one(o, "events", 0, 51);

    /* The other partition was not disturbed. */
    for (int i = 0; i < N; i++) {
        offsets_release(keep[i]);
    }
    expect_one(o, "events", 1, N);
    offsets_destroy(o);
}

/* Forgetting a partition in the middle of the table keeps the others. */
static void test_forget_keeps_others(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *a = offsets_track(o, "t", 0, 10, 1);
    struct offsets_entry *b = offsets_track(o, "t", 1, 20, 1);
    struct offsets_entry *c = offsets_track(o, "t", 2, 30, 1);
    offsets_forget(o, "t", 0);
    offsets_release(a); /* late: frees it */
    struct offsets_entry *c2 = offsets_track(o, "t", 2, 31, 1);
    struct offsets_entry *b2 = offsets_track(o, "t", 1, 21, 1);
    offsets_release(c);
    offsets_release(c2);
    expect_one(o, "t", 2, 32);
    offsets_forget(o, "t", 2);
    offsets_release(b);
    offsets_release(b2);
    expect_one(o, "t", 1, 22);
    assert_int_equal(offsets_pending(o), 0);
    offsets_destroy(o);
}

/* Destroying the tracker with deliveries still out: they release later. */
static void test_destroy_with_outstanding(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e[8];
    for (int i = 0; i < 8; i++) {
        e[i] = offsets_track(o, "events", i % 2, i, 2);
    }
    offsets_release(e[3]);
    offsets_destroy(o);
    struct releaser r = {e, 8, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_thread, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (int i = 0; i < 8; i++) {
        if (i != 3) {
            offsets_release(e[i]);
        }
    }
    /* Nothing to assert beyond "no leak, no double free": valgrind/ASan. */
}

/* ---- concurrency --------------------------------------------------------- */

#define C_THREADS 4
#define C_ENTRIES 10000

struct worker {
    struct offsets_entry **e;
    pthread_barrier_t *start;
};

static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    /* Every thread releases every entry once, all in the same order and
     * starting together, so that they collide on the same counters. */
    (void)pthread_barrier_wait(w->start);
    for (int i = 0; i < C_ENTRIES; i++) {
        offsets_release(w->e[i]);
    }
    return NULL;
}

static void test_concurrent_releases(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry **e = malloc(C_ENTRIES * sizeof(*e));
    assert_non_null(e);
    for (int i = 0; i < C_ENTRIES; i++) {
        e[i] = offsets_track(o, "events", 5, i, C_THREADS);
    }
    pthread_t t[C_THREADS];
    struct worker w[C_THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, C_THREADS), 0);
    for (int i = 0; i < C_THREADS; i++) {
        w[i].e = e;
        w[i].start = &start;
        assert_int_equal(pthread_create(&t[i], NULL, worker_thread, &w[i]), 0);
    }
    /* Meanwhile the owner collects, as the consumer thread does. */
    int64_t last = -1;
    for (int spin = 0; spin < 200000 && last < C_ENTRIES; spin++) {
        rd_kafka_topic_partition_list_t *list = offsets_collect(o);
        if (list != NULL) {
            assert_int_equal(list->cnt, 1);
            int64_t got = offset_in(list, "events", 5);
            assert_true(got > last); /* only ever forward */
            assert_true(got <= C_ENTRIES);
            last = got;
            rd_kafka_topic_partition_list_destroy(list);
        }
    }
    for (int i = 0; i < C_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    pthread_barrier_destroy(&start);
    rd_kafka_topic_partition_list_t *list = offsets_collect(o);
    if (last < C_ENTRIES) {
        assert_non_null(list);
        last = offset_in(list, "events", 5);
    } else {
        assert_null(list);
    }
    if (list != NULL) {
        rd_kafka_topic_partition_list_destroy(list);
    }
    assert_int_equal(last, C_ENTRIES);
    assert_int_equal(offsets_pending(o), 0);
    offsets_destroy(o);
    free(e);
}

/* One record from which 4 x 10,000 deliveries were made, all released at
 * once on the same counter: the record resolves exactly when the last one
 * is released, not before (a lost update would leave it pending forever,
 * a double count would free it early). */
struct hammer {
    struct offsets_entry *e;
    pthread_barrier_t *start;
    int n;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    (void)pthread_barrier_wait(h->start);
    for (int i = 0; i < h->n; i++) {
        offsets_release(h->e);
    }
    return NULL;
}

static void test_concurrent_one_record(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e = offsets_track(o, "events", 0, 7, C_THREADS * C_ENTRIES);
    struct offsets_entry *last = offsets_track(o, "events", 0, 8, 1);
    pthread_t t[C_THREADS];
    struct hammer h[C_THREADS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, C_THREADS), 0);
    for (int i = 0; i < C_THREADS; i++) {
        h[i].e = e;
        h[i].start = &start;
        /* One delivery stays unreleased until the threads are done. */
        h[i].n = i == 0 ? C_ENTRIES - 1 : C_ENTRIES;
        assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h[i]), 0);
    }
    for (int i = 0; i < C_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(atomic_load(&e->refs), 2); /* one delivery + the tracker */
    expect_nothing(o);
    offsets_release(e);
    expect_one(o, "events", 0, 8);
    offsets_release(last);
    expect_one(o, "events", 0, 9);
    offsets_destroy(o);
}

/* Each thread owns a slice (one delivery per record), releasing from the
 * end of its slice backwards: the stored offset only moves once the slices
 * below are all done. */
static void *slice_thread(void *arg)
{
    struct releaser *r = arg;
    for (size_t i = r->n; i-- > 0;) {
        offsets_release(r->e[i]);
    }
    return NULL;
}

static void test_concurrent_slices(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry **e = malloc(C_ENTRIES * sizeof(*e));
    assert_non_null(e);
    for (int i = 0; i < C_ENTRIES; i++) {
        e[i] = offsets_track(o, "events", 0, 1000 + i, 1);
    }
    pthread_t t[C_THREADS];
    struct releaser r[C_THREADS];
    for (int i = 0; i < C_THREADS; i++) {
        r[i].e = e + i * (C_ENTRIES / C_THREADS);
        r[i].n = C_ENTRIES / C_THREADS;
        r[i].times = 1;
        assert_int_equal(pthread_create(&t[i], NULL, slice_thread, &r[i]), 0);
    }
    for (int i = 0; i < C_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    expect_one(o, "events", 0, 1000 + C_ENTRIES);
    assert_int_equal(offsets_pending(o), 0);
    offsets_destroy(o);
    free(e);
}

/* The bound: a partition whose tracked-but-unpopped records reach the limit
 * is full until its head resolves and the prefix pops; partitions are
 * counted apart, and no limit means never full. */
static void test_limit_full(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(4);
    struct offsets_entry *head = offsets_track(o, "events", 0, 0, 1);
    for (int64_t off = 1; off < 3; off++) {
        (void)offsets_track(o, "events", 0, off, 0);
    }
    (void)offsets_track(o, "events", 1, 0, 0);
    assert_false(offsets_full(o, "events", 0));
    (void)offsets_track(o, "events", 0, 3, 0);
    assert_int_equal(offsets_tracked(o, "events", 0), 4);
    assert_true(offsets_full(o, "events", 0));
    assert_false(offsets_full(o, "events", 1));
    assert_false(offsets_full(o, "other", 0));
    /* Resolved records behind the head do not pop: still full. */
    rd_kafka_topic_partition_list_t *list = offsets_collect(o);
    assert_int_equal(offset_in(list, "events", 0), ABSENT);
    rd_kafka_topic_partition_list_destroy(list);
    assert_true(offsets_full(o, "events", 0));
    offsets_release(head);
    list = offsets_collect(o);
    assert_int_equal(offset_in(list, "events", 0), 4);
    rd_kafka_topic_partition_list_destroy(list);
    assert_int_equal(offsets_tracked(o, "events", 0), 0);
    assert_false(offsets_full(o, "events", 0));
    offsets_destroy(o);

    o = offsets_new(0);
    head = offsets_track(o, "events", 0, 0, 1);
    for (int64_t off = 1; off < 10000; off++) {
        (void)offsets_track(o, "events", 0, off, 0);
    }
    assert_false(offsets_full(o, "events", 0));
    offsets_release(head);
    offsets_destroy(o);
}

/* The one entry of list for (topic, partition). */
static const rd_kafka_topic_partition_t *elem(const rd_kafka_topic_partition_list_t *list,
                                              const char *topic, int32_t partition)
{
    assert_non_null(list);
    for (int i = 0; i < list->cnt; i++) {
        if (list->elems[i].partition == partition && strcmp(list->elems[i].topic, topic) == 0) {
            return &list->elems[i];
        }
    }
    fail_msg("%s[%d] not in the list", topic, (int)partition);
    return NULL;
}

static void expect_map(const rd_kafka_topic_partition_t *tp, const char *want)
{
    if (want == NULL) {
        assert_null(tp->metadata);
        return;
    }
    assert_non_null(tp->metadata);
    assert_int_equal(tp->metadata_size, strlen(want));
    assert_memory_equal(tp->metadata, want, strlen(want));
}

/* The commit list: the oldest unresolved offset with the map of the later
 * resolved ones, read back as the skip set of the next owner. */
static void test_commit_map_roundtrip(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *e[7];
    /* 10 pending, 11 12 resolved, 13 pending, 14 15 resolved, 16 pending */
    for (int i = 0; i < 7; i++) {
        int pending = (i == 0 || i == 3 || i == 6) ? 1 : 0;
        e[i] = offsets_track(o, "events", 2, 10 + i, pending);
    }
    rd_kafka_topic_partition_list_t *list = offsets_commit_list(o, 4000, NULL);
    const rd_kafka_topic_partition_t *tp = elem(list, "events", 2);
    assert_int_equal(tp->offset, 10);
    expect_map(tp, "wb1:10:1,2,1,2");

    struct offsets *next = offsets_new(0);
    assert_int_equal(offsets_set_skip(next, "events", 2, 10, tp->metadata, tp->metadata_size), 4);
    const int want[] = {0, 1, 1, 0, 1, 1, 0, 0, 0};
    for (int i = 0; i < 9; i++) {
        assert_int_equal(offsets_skip(next, "events", 2, 10 + i), want[i]);
    }
    assert_int_equal(offsets_skip(next, "events", 3, 11), 0);
    rd_kafka_topic_partition_list_destroy(list);
    offsets_destroy(next);

    /* Nothing changed: nothing to commit. */
    assert_null(offsets_commit_list(o, 4000, NULL));
    /* The head resolves: the offset moves to 13, the map follows. */
    offsets_release(e[0]);
    list = offsets_commit_list(o, 4000, NULL);
    tp = elem(list, "events", 2);
    assert_int_equal(tp->offset, 13);
    expect_map(tp, "wb1:13:1,2");
    rd_kafka_topic_partition_list_destroy(list);
    /* A failed commit is listed again, unchanged. */
    offsets_commit_failed(o, "events", 2);
    list = offsets_commit_list(o, 4000, NULL);
    expect_map(elem(list, "events", 2), "wb1:13:1,2");
    rd_kafka_topic_partition_list_destroy(list);
    /* A revoke lists its partitions even unchanged. */
    rd_kafka_topic_partition_list_t *only = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(only, "events", 2);
    rd_kafka_topic_partition_list_add(only, "events", 9); /* not tracked */
    list = offsets_commit_list(o, 4000, only);
    assert_int_equal(list->cnt, 1);
    assert_int_equal(elem(list, "events", 2)->offset, 13);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_topic_partition_list_destroy(only);
    /* Everything resolved: the offset after the last, no map. */
    offsets_release(e[3]);
    offsets_release(e[6]);
    list = offsets_commit_list(o, 4000, NULL);
    tp = elem(list, "events", 2);
    assert_int_equal(tp->offset, 17);
    expect_map(tp, NULL);
    rd_kafka_topic_partition_list_destroy(list);
    offsets_destroy(o);
}

/* Offsets that never come as records (compaction, transaction markers)
 * join the resolved runs; abandoned records are not resolved. */
static void test_commit_map_gaps_and_abandoned(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *head = offsets_track(o, "events", 0, 100, 1);
    (void)offsets_track(o, "events", 0, 103, 0);
    struct offsets_entry *ab = offsets_track(o, "events", 0, 104, 1);
    offsets_abandon(ab);
    (void)offsets_track(o, "events", 0, 105, 0);
    rd_kafka_topic_partition_list_t *list = offsets_commit_list(o, 4000, NULL);
    expect_map(elem(list, "events", 0), "wb1:100:1,3,1,1");
    rd_kafka_topic_partition_list_destroy(list);
    offsets_release(head);
    offsets_destroy(o);
}

/* Offsets that go back within an assignment (an offset reset after a log
 * truncation, a re-fetch) end the map where they go back: the records
 * after are not in its offset space.  Before, the map went on with runs
 * counted from the old position and the next owner skipped records never
 * resolved (an independent review found it). */
static void test_commit_map_offsets_back(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *head = offsets_track(o, "events", 0, 100, 1);
    for (int64_t off = 101; off <= 103; off++) {
        (void)offsets_track(o, "events", 0, off, 0);
    }
    (void)offsets_track(o, "events", 0, 0, 0); /* reset to the start */
    struct offsets_entry *u1 = offsets_track(o, "events", 0, 1, 1);
    (void)offsets_track(o, "events", 0, 2, 0);
    rd_kafka_topic_partition_list_t *list = offsets_commit_list(o, 4000, NULL);
    expect_map(elem(list, "events", 0), "wb1:100:1,3");
    rd_kafka_topic_partition_list_destroy(list);
    offsets_release(u1);
    offsets_release(head);
    offsets_destroy(o);
}

/* The map stops at the byte budget on a resolved run: what it lists is
 * resolved (a subset of them: safe), never an unresolved record. */
static void test_commit_map_budget(void **state)
{
    (void)state;
    enum { N = 3000 };
    struct offsets *o = offsets_new(0);
    struct offsets_entry **held = calloc(N, sizeof(*held));
    for (int i = 0; i < N; i++) {
        /* even offsets pending, odd ones resolved: the longest map */
        held[i] = offsets_track(o, "events", 0, i, i % 2 == 0 ? 1 : 0);
    }
    for (size_t budget = 0; budget <= 4000; budget += 37) {
        offsets_commit_failed(o, "events", 0);
        rd_kafka_topic_partition_list_t *list = offsets_commit_list(o, budget, NULL);
        const rd_kafka_topic_partition_t *tp = elem(list, "events", 0);
        assert_int_equal(tp->offset, 0);
        assert_true(tp->metadata_size <= budget);
        struct offsets *next = offsets_new(0);
        int64_t n = offsets_set_skip(next, "events", 0, 0, tp->metadata, tp->metadata_size);
        assert_true(n <= N / 2);
        int64_t skipped = 0;
        for (int i = 0; i < N; i++) {
            int skip = offsets_skip(next, "events", 0, i);
            assert_true(skip == 0 || i % 2 == 1);
            skipped += skip;
        }
        assert_int_equal(skipped, n);
        if (budget > 3900) {
            assert_true(n > 500); /* most of the budget is used */
        }
        offsets_destroy(next);
        rd_kafka_topic_partition_list_destroy(list);
    }
    for (int i = 0; i < N; i += 2) {
        offsets_release(held[i]);
    }
    offsets_destroy(o);
    free(held);
}

/* Metadata this version did not write, or for another offset, or damaged,
 * skips nothing. */
static void test_skip_rejects_foreign(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "wb1:",
        "wb1:10",
        "wb1:11:1,2",                    /* another offset's map */
        "wb2:10:1,2",                    /* another version */
        "pc1:AAEC",                      /* another format */
        "wb1:10:1,x",                    /* damaged */
        "wb1:10:1,,2",                   /* damaged */
        "wb1:10:-1,2",                   /* negative */
        "wb1:10:1,2,",                   /* trailing comma */
        "wb1:10:1,99999999999999999999", /* overflow */
        "some-user-metadata",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct offsets *o = offsets_new(0);
        assert_int_equal(offsets_set_skip(o, "events", 0, 10, bad[i], strlen(bad[i])), 0);
        for (int64_t off = 10; off < 20; off++) {
            assert_int_equal(offsets_skip(o, "events", 0, off), 0);
        }
        offsets_destroy(o);
    }
    struct offsets *o = offsets_new(0);
    assert_int_equal(offsets_set_skip(o, "events", 0, 10, NULL, 0), 0);
    assert_int_equal(offsets_set_skip(o, "events", 0, -1001, "wb1:-1001:1,2", 13), 0);
    /* A record before the map's offset (fetching started elsewhere: an
     * offset reset, a topic made again) drops the set. */
    assert_int_equal(offsets_set_skip(o, "events", 0, 10, "wb1:10:1,2", 10), 2);
    assert_int_equal(offsets_skip(o, "events", 0, 3), 0);
    assert_int_equal(offsets_skip(o, "events", 0, 11), 0);
    /* The skip set is the one of the last assignment. */
    assert_int_equal(offsets_set_skip(o, "events", 0, 10, "wb1:10:1,2", 10), 2);
    offsets_forget(o, "events", 0);
    assert_int_equal(offsets_skip(o, "events", 0, 11), 0);
    offsets_destroy(o);
}

/* What a revoke waits for: records neither resolved nor abandoned, in the
 * revoked partitions only. */
static void test_unsettled(void **state)
{
    (void)state;
    struct offsets *o = offsets_new(0);
    struct offsets_entry *a = offsets_track(o, "events", 0, 0, 1);
    struct offsets_entry *b = offsets_track(o, "events", 0, 1, 2);
    (void)offsets_track(o, "events", 0, 2, 0);
    struct offsets_entry *c = offsets_track(o, "events", 1, 0, 1);
    rd_kafka_topic_partition_list_t *p0 = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(p0, "events", 0);
    assert_int_equal(offsets_unsettled(o, p0), 2);
    offsets_release(a);
    assert_int_equal(offsets_unsettled(o, p0), 1);
    offsets_release(b);
    assert_int_equal(offsets_unsettled(o, p0), 1);
    offsets_abandon(b);
    assert_int_equal(offsets_unsettled(o, p0), 0);
    rd_kafka_topic_partition_list_destroy(p0);
    offsets_release(c);
    offsets_destroy(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_zero_deliveries),
        cmocka_unit_test(test_partitions_independent),
        cmocka_unit_test(test_many_partitions),
        cmocka_unit_test(test_three_deliveries),
        cmocka_unit_test(test_collect_only_when_advanced),
        cmocka_unit_test(test_abandon_blocks),
        cmocka_unit_test(test_forget_then_late_release),
        cmocka_unit_test(test_forget_keeps_others),
        cmocka_unit_test(test_destroy_with_outstanding),
        cmocka_unit_test(test_concurrent_releases),
        cmocka_unit_test(test_concurrent_one_record),
        cmocka_unit_test(test_concurrent_slices),
        cmocka_unit_test(test_limit_full),
        cmocka_unit_test(test_commit_map_roundtrip),
        cmocka_unit_test(test_commit_map_gaps_and_abandoned),
        cmocka_unit_test(test_commit_map_budget),
        cmocka_unit_test(test_commit_map_offsets_back),
        cmocka_unit_test(test_skip_rejects_foreign),
        cmocka_unit_test(test_unsettled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
