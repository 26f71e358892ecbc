/*
 * fuzz_event: event_parse (bridge/event.c), the validation every record of
 * the events topic goes through before routing.  Input: the record's
 * value bytes.  Checks: no crash, leak or UB under ASan+UBSan; an accepted
 * event has the three fields routing uses (eventId and accountId UUIDs,
 * eventType 1-128 characters); a refused one has a message.
 */
#include <jansson.h>

#include "event.h"
#include "fuzz.h"

#define MAX_EVENT_BYTES (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev;
    char errstr[512] = "";

    if (event_parse(&ev, data, size, MAX_EVENT_BYTES, errstr, sizeof(errstr)) == 0) {
        FUZZ_CHECK(ev.root != NULL && util_is_uuid(ev.id) && util_is_uuid(ev.account_id));
        size_t tlen = strlen(ev.type);
        FUZZ_CHECK(tlen >= 1 && tlen <= 128);
        event_deinit(&ev);
    } else {
        FUZZ_CHECK(errstr[0] != '\0' && ev.root == NULL);
    }
    return 0;
}
