/*
 * fuzz_event: event_parse (bridge/event.c), the validation every record of
 * the events topic goes through before routing, and the invalid-event dead
 * letter built from the same bytes (bridge/deadletter.c), as the router
 * builds it.  Input: the record's value bytes.  Checks: no crash, leak or
 * UB under ASan+UBSan; an accepted event has the three fields routing uses
 * (eventId and accountId UUIDs, eventType 1-128 characters); a refused one
 * has a message that is valid UTF-8, and its dead letter always builds,
 * fits the limit, reads back (as dlq reads it) with its reason, error and
 * source, and keeps the bytes: whole in raw or rawBase64, or, in the
 * compact form, the size and a prefix.  Differential: event_parse (the
 * jsonscan path) gives the verdict, fields and message of
 * event_parse_jansson (a jansson document).
 */
#include <jansson.h>

#include "deadletter.h"
#include "event.h"
#include "fuzz.h"
#include "utf8.h"

#define MAX_EVENT_BYTES (64 * 1024)
/* Small enough that long inputs of control bytes take the compact form. */
#define MAX_DEAD_LETTER 8192

static void check_dead_letter(const uint8_t *data, size_t size, const char *errstr)
{
    static const struct deadletter_source src = {"subscription-events", 7, 12345};
    size_t len = 0;
    char *value = deadletter_raw_value(&src, "invalid_event", errstr, data, size, 1795000000000LL,
                                       MAX_DEAD_LETTER, &len);
    FUZZ_CHECK(value != NULL && len <= MAX_DEAD_LETTER && strlen(value) == len);
    json_t *rec = json_loadb(value, len, JSON_ALLOW_NUL, NULL);
    FUZZ_CHECK(rec != NULL);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(rec, "reason")), "invalid_event") == 0);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(rec, "error")), errstr) == 0);
    json_t *source = json_object_get(rec, "source");
    FUZZ_CHECK(json_integer_value(json_object_get(source, "offset")) == 12345);
    json_t *raw = json_object_get(rec, "raw");
    if (json_is_true(json_object_get(rec, "rawTruncated"))) {
        FUZZ_CHECK(raw == NULL);
        FUZZ_CHECK(json_integer_value(json_object_get(rec, "rawSize")) == (json_int_t)size);
        FUZZ_CHECK(json_string_length(json_object_get(rec, "rawSha256")) == 64);
    } else if (raw != NULL) {
        FUZZ_CHECK(json_string_length(raw) == size);
        FUZZ_CHECK(size == 0 || memcmp(json_string_value(raw), data, size) == 0);
    } else {
        FUZZ_CHECK(json_is_string(json_object_get(rec, "rawBase64")));
        FUZZ_CHECK(!utf8_valid((const char *)data, size));
    }
    json_decref(rec);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev;
    char errstr[512] = "";

    struct event ref;
    char referr[512] = "";
    int rc = event_parse(&ev, data, size, MAX_EVENT_BYTES, errstr, sizeof(errstr));
    int refrc = event_parse_jansson(&ref, data, size, MAX_EVENT_BYTES, referr, sizeof(referr));
    FUZZ_CHECK(rc == refrc && strcmp(errstr, referr) == 0);
    FUZZ_CHECK(strcmp(ev.id, ref.id) == 0 && strcmp(ev.type, ref.type) == 0 &&
               strcmp(ev.account_id, ref.account_id) == 0);
    if (rc == 0) {
        FUZZ_CHECK(util_is_uuid(ev.id) && util_is_uuid(ev.account_id));
        size_t tlen = strlen(ev.type);
        FUZZ_CHECK(tlen >= 1 && tlen <= 128);
    } else {
        FUZZ_CHECK(errstr[0] != '\0' && ev.id[0] == '\0');
        FUZZ_CHECK(utf8_valid(errstr, strlen(errstr)));
        check_dead_letter(data, size, errstr);
    }
    return 0;
}
