/*
 * event: validation of an input record against the Event envelope of
 * DESIGN section 3 (eventId UUID, eventType string, eventDetails.accountId
 * UUID).  Everything else in the record passes through untouched.  Pure;
 * called on the events consumer thread.
 */
#ifndef BRIDGE_EVENT_H
#define BRIDGE_EVENT_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

struct event {
    json_t *root;           /* the parsed record, owned */
    const char *id;         /* eventId, borrowed from root */
    const char *type;       /* eventType */
    const char *account_id; /* eventDetails.accountId */
};

/* Validates len bytes of data (not NUL-terminated) of at most max_bytes.
 * Returns 0 and fills ev (release with event_deinit), or -1 with what is
 * wrong in errstr (ev needs no deinit then). */
int event_parse(struct event *ev, const void *data, size_t len, size_t max_bytes, char *errstr,
                size_t errstr_size) WB_MUST_CHECK;

void event_deinit(struct event *ev);

#endif
