/*
 * pipeline: what the consumers, the workers and the producer share, and
 * the end of every delivery's road.  Each delivery ends in exactly one of:
 * delivered (2xx), parked on a delay topic (durable), dead-lettered
 * (durable), or abandoned at shutdown (its record's offset is not stored, so
 * it is consumed again).  Only then is its offsets entry released.
 *
 * Threads: every function may be called from any thread; the fields are set
 * before threads start and read-only after, except in_flight (atomic).
 */
#ifndef BRIDGE_PIPELINE_H
#define BRIDGE_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery.h"

struct attempts;
struct conf;
struct consumer;
struct delivery;
struct deliver;
struct producer;
struct registry;
struct offsets_entry;
enum producer_status;

struct pipeline {
    const struct conf *conf;
    const struct registry *registry;
    struct producer *producer;
    struct deliver *deliver;
    struct attempts *attempts; /* NULL when the attempts log is off */
    atomic_long in_flight;     /* deliveries handed to the pipeline, not yet ended */

    /* The router's events (their deliveries and body, one allocation each)
     * come back here when their last delivery has ended, on any thread;
     * the events consumer's thread frees them (router.c), and main once
     * every thread that could push has stopped (pipeline_end). */
    struct payload_home home;

    /* The delay consumer, told to refresh its subscription the first time a
     * delay topic takes a record (a topic the cluster auto-created, or one
     * made since it subscribed); set once it has started. */
    struct consumer *delay;      /* parked_lock */
    pthread_mutex_t parked_lock; /* protects delay and parked_intervals */
    int64_t parked_intervals[64];
    size_t n_parked_intervals;
};

/* An attempt now; the pipeline owns dl from here. */
void pipeline_dispatch(struct pipeline *pl, struct delivery *dl);

/* Parks dl without an attempt, due at due_ms, on the delay topic of
 * interval_ms; the pipeline owns dl from here. */
void pipeline_park(struct pipeline *pl, struct delivery *dl, int64_t due_ms, int64_t interval_ms);

/* Dead-letters dl with reason; the pipeline owns dl from here. */
void pipeline_dead_letter(struct pipeline *pl, struct delivery *dl, const char *reason);

/* A record's own send to Kafka (the dead letter of a record that is not a
 * delivery, a re-parked delay record), counted in in_flight like a
 * delivery so that a flood of such records pauses consumption too.
 * pipeline_send_begin counts it and returns the argument for
 * pipeline_send_done, the producer_done_cb that releases the record's
 * offsets entry e when Kafka has it (DURABLE), abandons it otherwise, and
 * uncounts it.  Any thread. */
void *pipeline_send_begin(struct pipeline *pl, struct offsets_entry *e);
enum producer_verdict pipeline_send_done(void *send, enum producer_status status,
                                         const char *error);

/* The deliver_done_cb given to the workers. */
void pipeline_attempt_done(struct delivery *dl, void *opaque);

/* Frees what is left in pl->home.  Thread: main, after the workers, the
 * producer and the consumers have stopped. */
void pipeline_end(struct pipeline *pl);

/* 1 when in_flight has reached delivery.max_in_flight: consumers pause. */
int pipeline_saturated(struct pipeline *pl);
/* 1 when in_flight is low enough for paused consumers to resume. */
int pipeline_has_room(struct pipeline *pl);

#endif
