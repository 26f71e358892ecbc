/*
 * admin: the admin HTTP server (libmicrohttpd) on admin.listen, what
 * Kubernetes and Prometheus talk to:
 *   GET /healthz  200 while every loop turns (the delivery workers, the two
 *                 consumers, the registry reader); 503 with the stalled one
 *   GET /readyz   200 when a Kafka broker is reachable, the registry has
 *                 caught up and the events consumer has joined its group
 *                 (with partitions, or idle because there are more replicas
 *                 than partitions); 503 with a short JSON reason otherwise,
 *                 and while shutting down
 *   GET /metrics  the Prometheus text exposition of metrics.c plus gauges
 *                 (in flight, registry size, producer queue, consumer lag per
 *                 partition, ready)
 * Nothing else: no endpoint list, no secrets over HTTP.
 *
 * The parts it looks at start and stop while it runs: main hands them over
 * with admin_set_* and takes them back (NULL) before destroying them; a
 * mutex covers those pointers.  Threads: MHD's one internal thread serves
 * requests; admin_* calls on main.
 */
#ifndef BRIDGE_ADMIN_H
#define BRIDGE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct admin;
struct consumer;
struct deliver;
struct pipeline;
struct producer;
struct registry;
struct regsync;

/* How long a loop may go without a turn before /healthz calls it stalled. */
#define ADMIN_STALL_MS 30000

/* Starts the server on listen ("host:port"; port 0 picks one).  The bound
 * address is written into bound.  Thread: main. */
int admin_start(struct admin **ap, const char *listen, char *bound, size_t bound_size, char *errstr,
                size_t errstr_size) WB_MUST_CHECK;

/* Hands a part over (NULL takes it back).  Thread: main. */
void admin_set_pipeline(struct admin *a, struct pipeline *pl);
void admin_set_registry(struct admin *a, struct registry *r, struct regsync *rs);
void admin_set_consumers(struct admin *a, struct consumer *events, struct consumer *delay);

/* From now on /readyz answers 503 "shutting down".  Thread: main. */
void admin_set_stopping(struct admin *a);

void admin_stop(struct admin *a);

/* The topics the cluster lacks (kafka_missing_topics), or NULL once there
 * are none: /readyz fails and says which while there are.  Thread: main. */
void admin_set_missing_topics(struct admin *a, const char *names);

#endif
