/*
 * admission: per-endpoint admission for one delivery worker.  Decides, for
 * each delivery a worker takes, whether its attempt starts now, waits in the
 * endpoint's FIFO, or is handed back unattempted (deferred: the caller parks
 * it on a delay topic, where it holds no place in the global budget).
 *
 * The rules, per endpoint and per worker (deliver.c divides the settings by
 * the number of workers):
 * - cap: at most this many attempts run at once (endpoint_max_in_flight).
 * - circuit breaker: after ADMISSION_BREAKER_FAILURES failed attempts in a
 *   row, and no success for ADMISSION_BREAKER_QUIET_MS (counted from the
 *   entry's first answer when it has seen no success: after a restart the
 *   bridge knows nothing yet), one attempt at a time (the probe); the rest
 *   is deferred.  The quiet rule keeps the circuit of an endpoint that
 *   still answers some deliveries (a flaky one, or one that refuses every
 *   first attempt and takes the retry) closed: its failures are retried on
 *   schedule rather than deferred slot after slot to the end of their
 *   windows.  A dead endpoint never succeeds and opens at its first failure
 *   ADMISSION_BREAKER_QUIET_MS after its first answer (5 at least).
 * - share: an endpoint's backlog (waiting x answer time / cap: how long the
 *   newest would wait; the answer time is the average of its answers, or
 *   before the first one the age of its oldest running attempt) is at most
 *   slow_ms, and once it is half of that, the endpoint holds (running +
 *   waiting) at most max(cap, budget / endpoints known to the worker),
 *   budget being the worker's part of delivery.max_in_flight.  Beyond, a
 *   delivery is deferred.  The rule binds only an endpoint answering in
 *   slow_ms / 10 or more, or, before its first answer, one whose oldest
 *   attempt has run slow_ms / 25 (200 ms by default): a fast endpoint's
 *   backlog, a burst or the noise of a saturated drain, is never parked
 *   for nothing, and a new endpoint that does not answer is known within a
 *   few hundred ms, before its waiting deliveries fill the budget.
 * - slow: an endpoint whose answers take longer than slow_ms (an EWMA of
 *   its attempts' durations, or an attempt still running past slow_ms) gets
 *   at most slow_cap attempts at once and nothing waits for it: the excess is
 *   deferred, even a 2xx-answering endpoint that the breaker never opens on.
 * - A delivery on its last chance (deferring it again ends its window) still
 *   gets its attempt if it can start now, and may wait within the share.
 *
 * What it owns: struct admission (one per worker) holds a chained hash map
 * of struct admission_ep keyed by endpoint id.  An entry exists while its
 * endpoint has an attempt running or a delivery waiting, or while there is
 * something to remember (failures in a row, slow answers).
 *
 * Threads: everything here is touched by the one worker thread owning the
 * struct admission (and by deliver_start/deliver_stop before that thread
 * starts or after it joined).  No locks.
 */
#ifndef BRIDGE_ADMISSION_H
#define BRIDGE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct delivery;

#define ADMISSION_BREAKER_FAILURES 5 /* consecutive failures that open a circuit */
/* ... when the endpoint's last success is at least this old (or none). */
#define ADMISSION_BREAKER_QUIET_MS 10000

/* The limits of one worker; const once the worker runs. */
struct admission_limits {
    int cap;          /* attempts at once per endpoint, >= 1 */
    int budget;       /* the worker's part of max_in_flight; 0: no share rule */
    int slow_cap;     /* attempts at once to a slow endpoint, >= 1 */
    int64_t slow_ms;  /* answers slower than this mark an endpoint slow; 0: the
                         share and slow rules are off (the breaker stays) */
    int64_t quiet_ms; /* the breaker's quiet time (ADMISSION_BREAKER_QUIET_MS; 0: none) */
};

/* One endpoint's state in one worker.  Worker thread only. */
struct admission_ep {
    struct admission_ep *next; /* hash chain */
    uint32_t hash;
    char *id;
    int running;                /* attempts of this endpoint in progress */
    int waiting;                /* deliveries in the FIFO */
    int failures;               /* consecutive failed attempts (breaker), kept below
                                   ADMISSION_BREAKER_FAILURES within the quiet time */
    int64_t quiet_since_ms;     /* wall time of its last success, or of its first answer
                                   in this entry; 0 before any answer */
    int64_t answer_ms;          /* EWMA of attempt durations, -1 before the first */
    int overdue;                /* attempts running past slow_ms at the last scan */
    int64_t oldest_ms;          /* age of its oldest running attempt at the last scan */
    struct delivery *wait_head; /* FIFO via dl->next */
    struct delivery *wait_tail;
};

struct admission {
    struct admission_limits lim;
    struct admission_ep **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;     /* entries: the endpoints this worker knows now */
};

enum admission_verdict {
    ADMISSION_START, /* attempt now */
    ADMISSION_WAIT,  /* wait in the endpoint's FIFO */
    ADMISSION_DEFER  /* hand back unattempted (OUTCOME_DEFERRED) */
};

/* Why a delivery was deferred. */
enum admission_reason {
    ADMISSION_NONE,
    ADMISSION_CIRCUIT, /* the circuit is open */
    ADMISSION_SHARE,   /* beyond the endpoint's share of the budget */
    ADMISSION_SLOW     /* the endpoint answers slowly */
};

/* What admission_decide looks at: pure data, so the policy is testable
 * without a worker. */
struct admission_view {
    int running;
    int ahead;    /* deliveries waiting before this one */
    int failures; /* consecutive failures */
    bool slow;
    int share;         /* running + waiting allowed when it cannot keep up */
    int64_t answer_ms; /* its answer time as estimated now, -1 unknown */
    bool answered;     /* answer_ms is the average of answers, not the age of
                          its oldest running attempt */
};

/* The verdict for one delivery; *reason says why it is deferred
 * (ADMISSION_NONE otherwise).  Pure. */
enum admission_verdict admission_decide(const struct admission_limits *lim,
                                        const struct admission_view *v, bool last_chance,
                                        enum admission_reason *reason);

/* The share of a worker's budget one endpoint may hold (running + waiting)
 * when the worker knows n_endpoints: max(cap, budget / n_endpoints), or
 * INT_MAX without a budget.  Pure. */
int admission_share_of(const struct admission_limits *lim, size_t n_endpoints);

/* The answer-time EWMA after one more attempt of duration_ms (prev -1: the
 * first).  Pure. */
int64_t admission_ewma(int64_t prev, int64_t duration_ms);

void admission_init(struct admission *a, const struct admission_limits *lim);
/* Frees every entry; the FIFOs must be empty. */
void admission_deinit(struct admission *a);

/* The entry of endpoint id, created when missing. */
struct admission_ep *admission_get(struct admission *a, const char *id);

/* Frees ep when nothing runs or waits and nothing is to be remembered. */
void admission_release(struct admission *a, struct admission_ep *ep);

/* Frees every entry with nothing running and nothing waiting, remembered
 * failures and slowness included (at stop). */
void admission_sweep(struct admission *a);

/* The verdict for dl arriving at ep (behind those waiting). */
enum admission_verdict admission_check(const struct admission *a, const struct admission_ep *ep,
                                       const struct delivery *dl, enum admission_reason *reason);

/* 1 when ep counts as slow now. */
bool admission_slow(const struct admission *a, const struct admission_ep *ep);

/* 1 when ep's circuit is open. */
bool admission_circuit_open(const struct admission_ep *ep);

/* FIFO of ep: append, and take the first (NULL when empty). */
void admission_wait(struct admission_ep *ep, struct delivery *dl);
struct delivery *admission_take(struct admission_ep *ep);

/* Takes, in order, the waiting deliveries whose verdict is no longer WAIT
 * now: the first of them whose verdict is START, or the next one to
 * defer (with *verdict and *reason); NULL when none (the FIFO is left in
 * order).  Called in a loop by the worker after a slot frees or ep turns
 * slow; each START must be followed by running++ before the next call. */
struct delivery *admission_next(struct admission *a, struct admission_ep *ep,
                                enum admission_verdict *verdict, enum admission_reason *reason);

/* Cuts from ep's FIFO the newest deliveries beyond what the share rule
 * lets it hold now (its answer time may have become known since they came)
 * and returns them, oldest first, as a list via dl->next: the caller defers
 * them (ADMISSION_SHARE).  NULL when nothing is beyond, and for a slow
 * endpoint (admission_next defers its waiting deliveries). */
struct delivery *admission_shed(struct admission *a, struct admission_ep *ep);

/* An attempt of ep ended at now_ms (wall clock) after duration_ms;
 * failed: it is retried (the breaker counts it, unless ep succeeded, or
 * first answered, within the quiet time, lim.quiet_ms).  running is
 * decremented.  The last success is remembered as long as ep's entry is
 * (busy, or failures to remember); a new entry starts its quiet time at
 * its first answer. */
void admission_answered(const struct admission *a, struct admission_ep *ep, int64_t duration_ms,
                        bool failed, int64_t now_ms);

/* The scan of running attempts: admission_scan_begin clears what the last
 * scan found, then the worker calls admission_running for each attempt
 * running now, with its age. */
void admission_scan_begin(struct admission *a);
void admission_running(const struct admission *a, struct admission_ep *ep, int64_t age_ms);

#endif
