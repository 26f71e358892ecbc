/*
 * deliver: the delivery workers.  Each of delivery.workers threads owns one
 * libcurl multi handle and drives many concurrent POSTs on it (keep-alive
 * connection reuse, HTTP/2 where offered), never one blocking request per
 * thread.  Deliveries arrive through each worker's queue (any thread may
 * submit; an eventfd wakes the worker) and are spread evenly over the
 * workers, in a scrambled order that no pattern of the callers follows.
 * Each worker caps its own in-flight transfers per endpoint at
 * ceil(endpoint_max_in_flight / workers); the rest wait in that worker, in
 * order, within the endpoint's share of the budget.  Whether a delivery
 * starts, waits or is handed back unattempted is admission.c's decision (the
 * circuit breaker, the share, slow endpoints).  The global bound
 * (max_in_flight) is kept by the callers, who stop consuming when it is
 * reached.
 */
#ifndef BRIDGE_DELIVER_H
#define BRIDGE_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct delivery;
struct deliver;
struct netguard;

/* Called on a worker thread when an attempt has finished: the attempt is
 * appended to dl->attempts, dl->outcome and dl->retry_after_ms are set, and
 * the callback owns dl from then on.  At stop, deliveries never started are
 * handed back with outcome OUTCOME_NONE and no attempt added.  A delivery
 * that admission defers (the endpoint's circuit is open, it is beyond the
 * endpoint's share of the budget, or the endpoint answers slowly: see
 * admission.h) is handed back with OUTCOME_DEFERRED and no attempt added:
 * the caller parks it. */
typedef void deliver_done_cb(struct delivery *dl, void *opaque);

struct deliver_opts {
    int workers;
    int endpoint_max_in_flight;
    int max_in_flight;        /* the global budget, shared out among the endpoints
                                 a worker holds deliveries for; 0: no share rule */
    int slow_max_in_flight;   /* attempts at once to a slow endpoint (0 counts as 1) */
    int64_t slow_answer_ms;   /* answers slower than this mark an endpoint slow; 0: never */
    int64_t breaker_quiet_ms; /* 0: ADMISSION_BREAKER_QUIET_MS; < 0: none (tests) */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    const char *user_agent;       /* "webhook-bridge/<version>" */
    const char *ca_file;          /* CA certificates (PEM) for HTTPS, or NULL or "" for
                                     libcurl's default store */
    const struct netguard *guard; /* the SSRF guard, or NULL to allow every address;
                                      must outlive the workers */
};

/* Starts the workers.  Thread: main, before consumers start. */
int deliver_start(struct deliver **dp, const struct deliver_opts *opts, deliver_done_cb *done,
                  void *opaque, char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Queues dl for an attempt now; ownership passes to the workers.  Any thread.
 * The request is POST dl->url with dl->body and the Standard Webhooks
 * headers; the attempt is timestamped when it is sent. */
void deliver_submit(struct deliver *d, struct delivery *dl);

/* Stops the workers: transfers in progress finish (each is bounded by the
 * timeout) until deadline_ms (util_mono_ms clock), after which they are
 * aborted and reported with an attempt whose error is "aborted"; queued
 * deliveries not yet started are reported with OUTCOME_NONE.  Every
 * delivery submitted is handed to the callback exactly once before this
 * returns.  Thread: main. */
void deliver_stop(struct deliver *d, int64_t deadline_ms);

/* util_mono_ms() of the oldest last loop turn among the workers, and which
 * worker that is (a worker turns at least once a second).  Any thread. */
int64_t deliver_heartbeat(const struct deliver *d, int *worker);

/* Deliveries handed to the workers and not yet given to the callback. */
long deliver_in_flight(const struct deliver *d);

#endif
