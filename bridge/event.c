/*
 * event: checks an input record's envelope.  The record's bytes are what
 * gets POSTed; this module only decides whether they are a valid Event and
 * copies out the three fields routing needs.
 *
 * Two ways to the same answer: jsonscan (the hot path, no allocation) and
 * a jansson document (event_parse_jansson).  A record jsonscan accepts
 * with a valid envelope is done; any other goes to jansson, which either
 * names what is wrong or, should jsonscan ever be stricter than jansson,
 * accepts it (fuzz_jsonscan and fuzz_event hold the two to one answer).
 */
#include "event.h"

#include <string.h>

#include <jansson.h>

#include "jsonscan.h"
#include "redact.h"

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

/* Looks up obj[key] as a string and copies it to out (size bytes; a UUID
 * or at most EVENT_TYPE_MAX bytes).  -1 with the reason in errstr. */
static int get_field(json_t *obj, const char *path, const char *key, int want_uuid, char *out,
                     size_t size, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        util_errf(errstr, errstr_size, "%s is missing", path);
        return -1;
    }
    if (!json_is_string(v)) {
        util_errf(errstr, errstr_size, "%s must be a string, got %s", path, json_type_name(v));
        return -1;
    }
    const char *s = json_string_value(v);
    if (want_uuid && !util_is_uuid(s)) {
        util_errf(errstr, errstr_size, "%s \"%.64s\" is not a UUID", path, s);
        return -1;
    }
    size_t n = strlen(s);
    if (!want_uuid && (n == 0 || n > EVENT_TYPE_MAX)) {
        util_errf(errstr, errstr_size, "%s must be 1 to %d characters", path, EVENT_TYPE_MAX);
        return -1;
    }
    if (n >= size) { /* cannot happen: a UUID is 36 bytes */
        util_errf(errstr, errstr_size, "%s is too long", path);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* The size checks both paths share. */
static int check_size(const void *data, size_t len, size_t max_bytes, char *errstr,
                      size_t errstr_size)
{
    if (data == NULL || len == 0) {
        util_errf(errstr, errstr_size, "record has no value (expected an Event JSON object)");
        return -1;
    }
    if (len > max_bytes) {
        util_errf(errstr, errstr_size,
                  "record is %zu bytes, over the limit of %zu (delivery.max_event_bytes)", len,
                  max_bytes);
        return -1;
    }
    return 0;
}

int event_parse(struct event *ev, const void *data, size_t len, size_t max_bytes, char *errstr,
                size_t errstr_size)
{
    enum { ID, TYPE, DETAILS, ACCOUNT };
    enum jsonscan_type root;
    char details = '\0';
    struct jsonscan_field f[] = {
        [ID] = {"eventId", NULL, ev->id, sizeof(ev->id), 0, 0},
        [TYPE] = {"eventType", NULL, ev->type, sizeof(ev->type), 0, 0},
        [DETAILS] = {"eventDetails", NULL, &details, 1, 0, 0},
        [ACCOUNT] = {"eventDetails", "accountId", ev->account_id, sizeof(ev->account_id), 0, 0},
    };
    if (check_size(data, len, max_bytes, errstr, errstr_size) == 0 &&
        jsonscan(data, len, &root, f, sizeof(f) / sizeof(f[0])) == 0 && root == JSONSCAN_OBJECT &&
        f[ID].type == JSONSCAN_STRING && f[ID].len == 36 && util_is_uuid(ev->id) &&
        f[TYPE].type == JSONSCAN_STRING && f[TYPE].len >= 1 && f[TYPE].len <= EVENT_TYPE_MAX &&
        f[DETAILS].type == JSONSCAN_OBJECT && f[ACCOUNT].type == JSONSCAN_STRING &&
        f[ACCOUNT].len == 36 && util_is_uuid(ev->account_id)) {
        return 0;
    }
    /* Refused or not an Event: jansson says why. */
    return event_parse_jansson(ev, data, len, max_bytes, errstr, errstr_size);
}

int event_parse_jansson(struct event *ev, const void *data, size_t len, size_t max_bytes,
                        char *errstr, size_t errstr_size)
{
    memset(ev, 0, sizeof(*ev));
    if (check_size(data, len, max_bytes, errstr, errstr_size) != 0) {
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /* The kind and place, not jerr.text: its "near '...'" would carry
         * payload bytes into the logs (the dead letter has them all). */
        util_errf(errstr, errstr_size, "not valid JSON: %s at byte %d", redact_json_error(&jerr),
                  jerr.position);
        return -1;
    }
    if (!json_is_object(root)) {
        util_errf(errstr, errstr_size, "record must be a JSON object, got %s",
                  json_type_name(root));
        goto fail;
    }
    if (get_field(root, "eventId", "eventId", 1, ev->id, sizeof(ev->id), errstr, errstr_size) !=
            0 ||
        get_field(root, "eventType", "eventType", 0, ev->type, sizeof(ev->type), errstr,
                  errstr_size) != 0) {
        goto fail;
    }
    json_t *details = json_object_get(root, "eventDetails");
    if (details == NULL) {
        util_errf(errstr, errstr_size, "eventDetails is missing");
        goto fail;
    }
    if (!json_is_object(details)) {
        util_errf(errstr, errstr_size, "eventDetails must be an object, got %s",
                  json_type_name(details));
        goto fail;
    }
    if (get_field(details, "eventDetails.accountId", "accountId", 1, ev->account_id,
                  sizeof(ev->account_id), errstr, errstr_size) != 0) {
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    memset(ev, 0, sizeof(*ev));
    return -1;
}
