/*
 * admission: per-endpoint admission of one delivery worker (see admission.h
 * for the rules and the contract).  deliver.c owns the transfers and asks
 * this file, for every delivery it takes and every slot that frees, whether
 * an attempt starts, waits or is deferred; a change of policy touches this
 * file alone.
 *
 * Threads: one struct admission per worker, touched by that worker's thread
 * only (and by deliver_start/deliver_stop around it).  No locks.
 */
#include "admission.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "util.h"

#define MAP_MIN 16 /* smallest bucket array */
/* Weight of the newest attempt in the answer-time EWMA: 1/EWMA_WEIGHT.
 * With 8, a few outliers among fast answers (a saturated machine) barely
 * move it; an endpoint answering 9 s after 50 ms averages over 5 s after 7
 * answers (the scan of running attempts marks it slow long before), and
 * one back from 9 s to 50 ms is under 5 s after 5. */
#define EWMA_WEIGHT 8
/* The share rule binds only an endpoint answering in slow_ms / SHARE_FLOOR
 * or more (500 ms by default).  Below, it is fast, whatever the backlog
 * looks like: on a saturated machine a fast endpoint's attempts are timed
 * with the worker's whole loop turn in them (tens of ms), and its backlog
 * drains at the speed of the CPU, not of its answers. */
#define SHARE_FLOOR 10
/* Before its first answer an endpoint is bound from slow_ms /
 * SHARE_FLOOR_UNANSWERED of its oldest attempt's age (200 ms by default).
 * A fast endpoint answers its first attempt long before; one that has
 * answered nothing after 200 ms while deliveries pile up for it is what
 * fills the budget in a drain (measured: about a second of healthy
 * deliveries stopped with the floor at 500 ms). */
#define SHARE_FLOOR_UNANSWERED 25

/* ---- the policy (pure) ------------------------------------------------ */

enum admission_verdict admission_decide(const struct admission_limits *lim,
                                        const struct admission_view *v, bool last_chance,
                                        enum admission_reason *reason)
{
    *reason = ADMISSION_NONE;
    if (v->failures >= ADMISSION_BREAKER_FAILURES) {
        /* Open circuit: one attempt at a time (the probe); a delivery on
         * its last chance still gets its attempt under the cap, so the
         * breaker alone never dead-letters one that was due in its window. */
        if (v->running == 0 || (last_chance && v->running < lim->cap)) {
            return ADMISSION_START;
        }
        *reason = ADMISSION_CIRCUIT;
        return ADMISSION_DEFER;
    }
    int limit = lim->cap;
    if (v->slow && lim->slow_cap < limit) {
        limit = lim->slow_cap;
    }
    if (v->running < limit && v->ahead == 0) {
        return ADMISSION_START;
    }
    /* A slow endpoint keeps nothing waiting: each waiting delivery would
     * hold a place in the global budget for whole slow answers. */
    if (v->slow && !last_chance) {
        *reason = ADMISSION_SLOW;
        return ADMISSION_DEFER;
    }
    /* Its backlog (waiting x answer time / cap: how long the newest would
     * wait) bounds what it holds: at most what it starts within slow_ms,
     * and once that backlog is half of slow_ms, at most its fair part of
     * the budget.  A fast endpoint (answers under slow_ms / SHARE_FLOOR;
     * before its first answer, its oldest attempt younger than slow_ms /
     * SHARE_FLOOR_UNANSWERED) is never bound: a burst, or the noise of a
     * saturated drain, is never parked for nothing. */
    int floor = v->answered ? SHARE_FLOOR : SHARE_FLOOR_UNANSWERED;
    if (lim->slow_ms > 0 && v->answer_ms >= 0 && v->answer_ms * floor >= lim->slow_ms) {
        int64_t backlog = (int64_t)v->ahead * v->answer_ms;
        int64_t whole = lim->slow_ms * lim->cap;
        if (backlog >= whole || (backlog >= whole / 2 && (long)v->running + v->ahead >= v->share)) {
            *reason = ADMISSION_SHARE;
            return ADMISSION_DEFER;
        }
    }
    return ADMISSION_WAIT;
}

int admission_share_of(const struct admission_limits *lim, size_t n_endpoints)
{
    if (lim->budget <= 0) {
        return INT_MAX;
    }
    size_t n = n_endpoints > 0 ? n_endpoints : 1;
    int share = (int)((size_t)lim->budget / n);
    return share > lim->cap ? share : lim->cap;
}

int64_t admission_ewma(int64_t prev, int64_t duration_ms)
{
    if (duration_ms < 0) {
        duration_ms = 0;
    }
    if (prev < 0) {
        return duration_ms;
    }
    return (prev * (EWMA_WEIGHT - 1) + duration_ms) / EWMA_WEIGHT;
}

/* ---- the endpoint map ------------------------------------------------- */

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void admission_init(struct admission *a, const struct admission_limits *lim)
{
    a->lim = *lim;
    a->n_buckets = MAP_MIN;
    a->buckets = xcalloc(a->n_buckets, sizeof(*a->buckets));
    a->count = 0;
}

void admission_deinit(struct admission *a)
{
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct admission_ep *ep = a->buckets[i];
        while (ep != NULL) {
            struct admission_ep *next = ep->next;
            free(ep->id);
            free(ep);
            ep = next;
        }
    }
    free(a->buckets);
    a->buckets = NULL;
    a->n_buckets = 0;
    a->count = 0;
}

static void map_resize(struct admission *a, size_t n_buckets)
{
    struct admission_ep **buckets = xcalloc(n_buckets, sizeof(*buckets));
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct admission_ep *ep = a->buckets[i];
        while (ep != NULL) {
            struct admission_ep *next = ep->next;
            size_t b = ep->hash & (n_buckets - 1);
            ep->next = buckets[b];
            buckets[b] = ep;
            ep = next;
        }
    }
    free(a->buckets);
    a->buckets = buckets;
    a->n_buckets = n_buckets;
}

static void map_shrink(struct admission *a)
{
    size_t n = a->n_buckets;
    while (n > MAP_MIN && a->count < n / 4) {
        n /= 2;
    }
    if (n != a->n_buckets) {
        map_resize(a, n);
    }
}

struct admission_ep *admission_get(struct admission *a, const char *id)
{
    uint32_t h = id_hash(id);
    for (struct admission_ep *ep = a->buckets[h & (a->n_buckets - 1)]; ep != NULL; ep = ep->next) {
        if (ep->hash == h && strcmp(ep->id, id) == 0) {
            return ep;
        }
    }
    if (a->count >= a->n_buckets) {
        map_resize(a, a->n_buckets * 2);
    }
    struct admission_ep *ep = xcalloc(1, sizeof(*ep));
    ep->hash = h;
    ep->id = xstrdup(id);
    ep->answer_ms = -1;
    size_t b = h & (a->n_buckets - 1);
    ep->next = a->buckets[b];
    a->buckets[b] = ep;
    a->count++;
    return ep;
}

/* 1 when ep has something running or waiting. */
static bool busy(const struct admission_ep *ep)
{
    return ep->running > 0 || ep->wait_head != NULL;
}

/* 1 when ep, idle, must still be kept: its circuit or its slowness would
 * be forgotten otherwise. */
static bool remembered(const struct admission *a, const struct admission_ep *ep)
{
    return ep->failures > 0 || (a->lim.slow_ms > 0 && ep->answer_ms > a->lim.slow_ms);
}

void admission_release(struct admission *a, struct admission_ep *ep)
{
    if (busy(ep) || remembered(a, ep)) {
        return;
    }
    struct admission_ep **pp = &a->buckets[ep->hash & (a->n_buckets - 1)];
    while (*pp != ep) {
        pp = &(*pp)->next;
    }
    *pp = ep->next;
    free(ep->id);
    free(ep);
    a->count--;
    map_shrink(a);
}

void admission_sweep(struct admission *a)
{
    for (size_t i = 0; i < a->n_buckets; i++) {
        struct admission_ep **pp = &a->buckets[i];
        while (*pp != NULL) {
            struct admission_ep *ep = *pp;
            if (busy(ep)) {
                pp = &ep->next;
                continue;
            }
            *pp = ep->next;
            free(ep->id);
            free(ep);
            a->count--;
        }
    }
    map_shrink(a);
}

/* ---- the worker's questions ------------------------------------------- */

bool admission_circuit_open(const struct admission_ep *ep)
{
    return ep->failures >= ADMISSION_BREAKER_FAILURES;
}

bool admission_slow(const struct admission *a, const struct admission_ep *ep)
{
    return a->lim.slow_ms > 0 && (ep->answer_ms > a->lim.slow_ms || ep->overdue > 0);
}

static void view_of(const struct admission *a, const struct admission_ep *ep, int ahead,
                    struct admission_view *v)
{
    v->running = ep->running;
    v->ahead = ahead;
    v->failures = ep->failures;
    v->slow = admission_slow(a, ep);
    v->share = admission_share_of(&a->lim, a->count);
    /* The average of its answers; before the first one, the age of its
     * oldest running attempt (a lower bound), else unknown.  Not the age
     * once answers are known: one stuck attempt among many fast ones would
     * make a fast endpoint look like one that cannot keep up. */
    v->answered = ep->answer_ms >= 0;
    if (ep->answer_ms >= 0) {
        v->answer_ms = ep->answer_ms;
    } else {
        v->answer_ms = ep->oldest_ms > 0 ? ep->oldest_ms : -1;
    }
}

enum admission_verdict admission_check(const struct admission *a, const struct admission_ep *ep,
                                       const struct delivery *dl, enum admission_reason *reason)
{
    struct admission_view v;
    view_of(a, ep, ep->waiting, &v);
    return admission_decide(&a->lim, &v, dl->last_chance != 0, reason);
}

void admission_wait(struct admission_ep *ep, struct delivery *dl)
{
    dl->next = NULL;
    if (ep->wait_tail != NULL) {
        ep->wait_tail->next = dl;
    } else {
        ep->wait_head = dl;
    }
    ep->wait_tail = dl;
    ep->waiting++;
}

struct delivery *admission_take(struct admission_ep *ep)
{
    struct delivery *dl = ep->wait_head;
    if (dl == NULL) {
        return NULL;
    }
    ep->wait_head = dl->next;
    if (ep->wait_head == NULL) {
        ep->wait_tail = NULL;
    }
    dl->next = NULL;
    ep->waiting--;
    return dl;
}

struct delivery *admission_next(struct admission *a, struct admission_ep *ep,
                                enum admission_verdict *verdict, enum admission_reason *reason)
{
    struct admission_view v;
    struct delivery *prev = NULL;
    int ahead = 0;

    for (struct delivery *dl = ep->wait_head; dl != NULL; prev = dl, dl = dl->next) {
        view_of(a, ep, ahead, &v);
        *verdict = admission_decide(&a->lim, &v, dl->last_chance != 0, reason);
        if (*verdict != ADMISSION_WAIT) {
            if (prev != NULL) {
                prev->next = dl->next;
            } else {
                ep->wait_head = dl->next;
            }
            if (ep->wait_tail == dl) {
                ep->wait_tail = prev;
            }
            dl->next = NULL;
            ep->waiting--;
            return dl;
        }
        if (!v.slow) {
            /* In order: those behind wait too. */
            break;
        }
        /* Slow: only deliveries on their last chance stay; look on for
         * others to defer. */
        ahead++;
    }
    *verdict = ADMISSION_WAIT;
    *reason = ADMISSION_NONE;
    return NULL;
}

/* 1 when a delivery with ahead deliveries before it may stay waiting. */
static bool may_wait(const struct admission *a, const struct admission_ep *ep, int ahead)
{
    struct admission_view v;
    enum admission_reason reason;
    view_of(a, ep, ahead, &v);
    /* Decided as for a plain delivery: the share binds a last chance too. */
    return admission_decide(&a->lim, &v, false, &reason) != ADMISSION_DEFER;
}

struct delivery *admission_shed(struct admission *a, struct admission_ep *ep)
{
    if (ep->wait_head == NULL || admission_slow(a, ep) || admission_circuit_open(ep) ||
        may_wait(a, ep, ep->waiting - 1)) {
        return NULL; /* the newest may stay, so may all (the rule grows with ahead) */
    }
    struct delivery *prev = NULL;
    struct delivery *dl = ep->wait_head;
    int kept = 0;
    while (dl != NULL && may_wait(a, ep, kept)) {
        prev = dl;
        dl = dl->next;
        kept++;
    }
    if (prev != NULL) {
        prev->next = NULL;
    } else {
        ep->wait_head = NULL;
    }
    ep->wait_tail = prev;
    ep->waiting = kept;
    return dl;
}

void admission_answered(const struct admission *a, struct admission_ep *ep, int64_t duration_ms,
                        bool failed, int64_t now_ms)
{
    if (ep->quiet_since_ms == 0) {
        /* Its first answer here (after a restart, or after the entry was
         * let go): nothing says the endpoint is down yet. */
        ep->quiet_since_ms = now_ms;
    }
    if (!failed) {
        ep->failures = 0;
        ep->quiet_since_ms = now_ms;
    } else if (ep->failures + 1 < ADMISSION_BREAKER_FAILURES ||
               now_ms - ep->quiet_since_ms >= a->lim.quiet_ms) {
        ep->failures++;
    }
    ep->answer_ms = admission_ewma(ep->answer_ms, duration_ms);
    ep->running--;
}

void admission_scan_begin(struct admission *a)
{
    for (size_t i = 0; i < a->n_buckets; i++) {
        for (struct admission_ep *ep = a->buckets[i]; ep != NULL; ep = ep->next) {
            ep->overdue = 0;
            ep->oldest_ms = 0;
        }
    }
}

void admission_running(const struct admission *a, struct admission_ep *ep, int64_t age_ms)
{
    if (age_ms > ep->oldest_ms) {
        ep->oldest_ms = age_ms;
    }
    if (a->lim.slow_ms > 0 && age_ms > a->lim.slow_ms) {
        ep->overdue++;
    }
}
