/*
 * event: validation of an input record against the Event envelope of
 * DESIGN section 3 (eventId UUID, eventType string, eventDetails.accountId
 * UUID).  Everything else in the record passes through untouched.  Pure;
 * called on the events consumer thread (and by the produce, dlq and retry
 * paths).
 */
#ifndef BRIDGE_EVENT_H
#define BRIDGE_EVENT_H

#include <stddef.h>

#include "util.h"

#define EVENT_TYPE_MAX 128 /* bytes of eventType */

/* The three fields routing needs, copied out of the record: a struct
 * event owns nothing and needs no release. */
struct event {
    char id[37];                   /* eventId, a UUID */
    char type[EVENT_TYPE_MAX + 1]; /* eventType, 1 to 128 bytes */
    char account_id[37];           /* eventDetails.accountId, a UUID */
};

/* Validates len bytes of data (not NUL-terminated) of at most max_bytes.
 * Returns 0 and fills ev, or -1 with what is wrong in errstr.  The bytes
 * are checked by jsonscan (no document is built); a refused record is
 * parsed again by jansson, whose error names the kind and the place. */
int event_parse(struct event *ev, const void *data, size_t len, size_t max_bytes, char *errstr,
                size_t errstr_size) WB_MUST_CHECK;

/* The same verdict, fields and message from a jansson document: the
 * reference event_parse is held to (tests/fuzz/fuzz_event.c) and where its
 * error messages come from. */
int event_parse_jansson(struct event *ev, const void *data, size_t len, size_t max_bytes,
                        char *errstr, size_t errstr_size) WB_MUST_CHECK;

#endif
