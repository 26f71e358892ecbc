/*
 * router: the events consumer's handler.  Validates each record (event.c),
 * dead-letters invalid ones with reason invalid_event, and turns a valid one
 * into one delivery per matching endpoint (registry.c), dispatched to the
 * workers.  Runs on the events consumer's thread.
 */
#ifndef BRIDGE_ROUTER_H
#define BRIDGE_ROUTER_H

#include "consumer.h"

struct pipeline;

/* The handler for the events consumer; pl is its argument. */
void router_handler(struct consumer_handler *h, struct pipeline *pl);

#endif
