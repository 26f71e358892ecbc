/*
 * registry: the endpoints the bridge knows, live.  Endpoints come from the
 * config file (registry_put_config, before threads start) and from the
 * endpoints topic (registry_apply, on the regsync thread, as records
 * arrive); a config endpoint wins over a topic record with the same id.
 * Indexed so that routing an event costs the same with 100,000 endpoints
 * as with 10: a hash of accountId -> endpoints of that account, plus the
 * "*" endpoints.
 *
 * Threads: any.  A read-write lock (writers preferred) guards the tables;
 * it is held only inside these calls, never across a delivery: lookups
 * hand out references to the endpoints, which are immutable, so an update
 * replaces an endpoint without disturbing the deliveries that use the old
 * one.
 */
#ifndef BRIDGE_REGISTRY_H
#define BRIDGE_REGISTRY_H

#include <stddef.h>

#include "util.h"

struct endpoint;
struct registry;

struct registry *registry_new(void);
void registry_destroy(struct registry *r);

/* Adds ep from the config file, taking the caller's reference; one with the
 * same id is replaced.  Thread: main, before the registry is shared. */
void registry_put_config(struct registry *r, struct endpoint *ep);

enum registry_change {
    REGISTRY_ADDED,
    REGISTRY_UPDATED,
    REGISTRY_REMOVED,
    REGISTRY_UNKNOWN,     /* a tombstone for an id the registry does not have */
    REGISTRY_CONFIG_WINS, /* the id belongs to a config endpoint: ignored */
};

/* Applies one endpoints-topic record: ep (the caller's reference is taken)
 * adds or replaces the endpoint with that id; ep NULL (a tombstone)
 * removes it. */
enum registry_change registry_apply(struct registry *r, const char *id, struct endpoint *ep);

/* A new reference to the endpoint with this id, or NULL. */
struct endpoint *registry_get(const struct registry *r, const char *id);

/* Writes references to up to max endpoints matching (account, type) into
 * out (the caller drops each); returns how many match in all, which may
 * exceed max (then call again with room for that many). */
size_t registry_match(const struct registry *r, const char *account_id, const char *event_type,
                      struct endpoint **out, size_t max);

size_t registry_size(const struct registry *r);

/* References to every endpoint, sorted by id, as a malloc'd array (*n of
 * them; the caller drops each and frees the array). */
struct endpoint **registry_list(const struct registry *r, size_t *n);

/* 1 when the endpoint with this id came from the config file. */
int registry_is_config(const struct registry *r, const char *id);

#endif
