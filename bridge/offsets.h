/*
 * offsets: which consumed records may have their offsets stored.  A record
 * is resolved when every delivery made from it is resolved (delivered,
 * durably parked on a delay topic, or dead-lettered).  Only the contiguous
 * prefix of resolved records of a partition is stored, so a crash at any
 * instant loses nothing: what was not stored is consumed again.
 *
 * Threads: the tracker (struct offsets) belongs to one consumer thread.
 * Entries are shared: each delivery made from a record holds a reference and
 * releases it from whatever thread resolves it (an atomic count).
 */
#ifndef BRIDGE_OFFSETS_H
#define BRIDGE_OFFSETS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

struct offsets_entry {
    atomic_int refs;      /* unresolved deliveries + 1 held by the tracker */
    atomic_int abandoned; /* a delivery was given up unresolved (shutdown) */
    int64_t offset;
    struct offsets_entry *next; /* tracker's list; tracker thread only */
};

struct offsets;

struct offsets *offsets_new(void);
/* Frees the tracker and drops its references.  Thread: owner. */
void offsets_destroy(struct offsets *o);

/* Tracks a record from which `pending` deliveries were made (0 is fine: the
 * record is resolved at once).  Offsets of a partition must be tracked in
 * increasing order.  Thread: owner. */
struct offsets_entry *offsets_track(struct offsets *o, const char *topic, int32_t partition,
                                    int64_t offset, int pending);

/* One delivery of the entry's record is resolved.  Any thread. */
void offsets_release(struct offsets_entry *e);
/* One delivery of the entry's record is given up without being resolved
 * (shutdown): the record's offset, and every later one of its partition,
 * will not be stored.  Any thread. */
void offsets_abandon(struct offsets_entry *e);

/* Pops the resolved prefix of every partition.  Returns the partitions whose
 * next offset to store advanced (offset = next record to consume), or NULL
 * when none did.  The caller destroys the list.  Thread: owner. */
rd_kafka_topic_partition_list_t *offsets_collect(struct offsets *o);

/* Stops tracking a partition (revoked), dropping the tracker's references.
 * Call offsets_collect first.  Thread: owner. */
void offsets_forget(struct offsets *o, const char *topic, int32_t partition);

/* Records tracked and not yet popped, over every partition.  Thread: owner. */
size_t offsets_pending(const struct offsets *o);

#endif
