/*
 * offsets: which consumed records may have their offsets stored.  A record
 * is resolved when every delivery made from it is resolved (delivered,
 * durably parked on a delay topic, or dead-lettered).  Only the contiguous
 * prefix of resolved records of a partition is stored, so a crash at any
 * instant loses nothing: what was not stored is consumed again.
 *
 * Each commit carries, in its metadata, a map of the later records already
 * resolved (offsets_commit_list), so that the partition's next owner, after
 * a crash, skips them (offsets_set_skip, offsets_skip) instead of
 * delivering them again.  The format, "wb1:BASE:U,R,U,R,...", is runs of
 * offsets from BASE (the committed offset), alternately not resolved (U)
 * and resolved (R), decimal; offsets after the last run are not resolved.
 * It stops at a byte budget: the skip set is then partial, which is safe.
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

/* limit: records tracked and not yet popped per partition at which
 * offsets_full says the partition must pause (0: no limit). */
struct offsets *offsets_new(size_t limit);
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

/* Records tracked and not yet popped of one partition.  Thread: owner. */
size_t offsets_tracked(const struct offsets *o, const char *topic, int32_t partition);

/* 1 when the partition has reached the limit (offsets_new): the consumer
 * pauses it until it is below again.  Thread: owner. */
int offsets_full(const struct offsets *o, const char *topic, int32_t partition);

/* Records of the listed partitions that are tracked, neither resolved nor
 * abandoned: those a revoke waits for.  Thread: owner. */
size_t offsets_unsettled(const struct offsets *o, const rd_kafka_topic_partition_list_t *parts);

/* Pops the resolved prefix of every partition and returns what to commit:
 * each partition's next offset to consume (the one after its resolved
 * prefix; before any record resolved, its first record's, which the caller
 * must store as well) with, as .metadata, the map of the later records
 * already resolved, at most `budget` bytes (0: none).  Without `only`, the
 * partitions whose offset or map changed since the last list; with it,
 * every listed partition that is tracked.  NULL when there is none.  The
 * caller destroys the list.  Thread: owner. */
rd_kafka_topic_partition_list_t *offsets_commit_list(struct offsets *o, size_t budget,
                                                     const rd_kafka_topic_partition_list_t *only);

/* A commit of the partition failed: the next offsets_commit_list lists it
 * again.  Thread: owner. */
void offsets_commit_failed(struct offsets *o, const char *topic, int32_t partition);

/* The partition was assigned at committed offset `base` with that commit's
 * metadata: the records the map lists as resolved will be skipped.  Any
 * metadata this version did not write (or not for `base`) is ignored.
 * Returns the number of offsets in the skip set.  Thread: owner. */
int64_t offsets_set_skip(struct offsets *o, const char *topic, int32_t partition, int64_t base,
                         const char *metadata, size_t len);

/* 1 when the record is in its partition's skip set: the caller tracks it
 * as resolved (offsets_track with 0 deliveries) and does not handle it.
 * Records must be asked about in increasing order.  Thread: owner. */
int offsets_skip(struct offsets *o, const char *topic, int32_t partition, int64_t offset);

#endif
