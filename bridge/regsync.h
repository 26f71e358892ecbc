/*
 * regsync: keeps the registry in step with the endpoints topic
 * (kafka.topics.endpoints, compacted).  Every replica reads the whole topic
 * from the beginning, with no consumer group (partitions assigned, nothing
 * committed), and applies each record as it comes: key = endpoint id, JSON
 * value = the endpoint, null value = removed.  A record that does not
 * validate is skipped with a log line and a counter; it never removes or
 * changes a good entry.
 *
 * regsync_caught_up() turns 1 once every partition has been read to the end
 * it had when reading began, which is what lets the daemon start consuming
 * events without dropping any for an endpoint it has not read yet.  A
 * topic the cluster says is missing does not count: it is looked for every
 * second (a broker may answer UNKNOWN_TOPIC for a topic that exists, and
 * events consumed meanwhile would be dropped as unrouted).
 *
 * Threads: regsync_start/stop on main; the reader runs on its own thread,
 * which owns the rd_kafka_t; registry updates go through the registry's
 * lock; regsync_caught_up from any thread.
 */
#ifndef BRIDGE_REGSYNC_H
#define BRIDGE_REGSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct conf;
struct endpoint;
struct registry;
struct regsync;

int regsync_start(struct regsync **rsp, const struct conf *conf, const char *bootstrap,
                  struct registry *registry, char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* 1 once the registry has caught up with the topic (see above). */
int regsync_caught_up(const struct regsync *rs);

/* Records applied so far, and records skipped as invalid. */
long regsync_applied(const struct regsync *rs);
long regsync_invalid(const struct regsync *rs);

/* util_mono_ms() of the reader loop's last turn.  Any thread. */
int64_t regsync_heartbeat(const struct regsync *rs);

/* One endpoints-topic record as it came off the topic, checked: key
 * (key_len bytes, NULL when the record has none) must be an endpoint id,
 * value (value_len bytes; NULL for a tombstone) an endpoint record for it.
 * 0: the id is in id (ENDPOINT_ID_MAX + 1 bytes) and *epp is the endpoint
 * (one reference, the caller's) or NULL for a tombstone.  -1: the record
 * must be skipped, the reason is in errstr, *epp is NULL.  Pure: any
 * thread. */
int regsync_parse_record(const void *key, size_t key_len, const void *value, size_t value_len,
                         char *id, struct endpoint **epp, char *errstr,
                         size_t errstr_size) WB_MUST_CHECK;

/* Stops the reader and frees everything; NULL is fine.  Thread: main. */
void regsync_stop(struct regsync *rs);

#endif
