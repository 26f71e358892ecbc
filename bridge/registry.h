/*
 * registry: the endpoints the bridge knows, indexed so that routing an
 * event costs the same with 100,000 endpoints as with 10: a hash of
 * accountId -> endpoints of that account, plus the "*" endpoints.
 *
 * Threads: built by main before threads start, then read-only and shared
 * (this registry comes from the config file only).
 */
#ifndef BRIDGE_REGISTRY_H
#define BRIDGE_REGISTRY_H

#include <stddef.h>

#include "util.h"

struct endpoint;
struct registry;

struct registry *registry_new(void);
void registry_destroy(struct registry *r);

/* Adds ep, taking ownership; an endpoint with the same id is replaced. */
void registry_put(struct registry *r, struct endpoint *ep);

/* The endpoint with this id, or NULL. */
const struct endpoint *registry_get(const struct registry *r, const char *id);

/* Writes up to max endpoints matching (account, type) into out; returns how
 * many match in all (which may exceed max). */
size_t registry_match(const struct registry *r, const char *account_id, const char *event_type,
                      const struct endpoint **out, size_t max);

size_t registry_size(const struct registry *r);

#endif
