/*
 * retry: the delay scheduler, the handler of the second consumer, which
 * subscribes to every delay topic of the prefix (a regex, so the topics of
 * an old schedule drain too).  Each delay topic holds one fixed delay, so
 * its records are due in append order: when a partition's head record is
 * not yet due, the scheduler keeps that one record and pauses the
 * partition; when it is due, it is attempted again and the partition
 * resumes.  No partition waits on its head longer than its topic's
 * interval: a record due later (a long Retry-After) is re-parked without an
 * attempt.  It holds nothing else in memory, however many deliveries are
 * parked.
 *
 * Threads: the delay consumer's thread only.
 */
#ifndef BRIDGE_RETRY_H
#define BRIDGE_RETRY_H

#include "consumer.h"

struct pipeline;
struct retry;

struct retry *retry_new(struct pipeline *pl);
void retry_destroy(struct retry *r);

/* The handler for the delay consumer. */
void retry_handler(struct consumer_handler *h, struct retry *r);

#endif
