/*
 * event: checks an input record's envelope.  The record's bytes are what
 * gets POSTed; this module only decides whether they are a valid Event and
 * extracts the three fields routing needs.
 */
#include "event.h"

#include <string.h>

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

/* Looks up obj[key] as a string; kind is "UUID" or "string". */
static const char *get_field(json_t *obj, const char *path, const char *key, int want_uuid,
                             char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        util_errf(errstr, errstr_size, "%s is missing", path);
        return NULL;
    }
    if (!json_is_string(v)) {
        util_errf(errstr, errstr_size, "%s must be a string, got %s", path, json_type_name(v));
        return NULL;
    }
    const char *s = json_string_value(v);
    if (want_uuid && !util_is_uuid(s)) {
        util_errf(errstr, errstr_size, "%s \"%.64s\" is not a UUID", path, s);
        return NULL;
    }
    if (!want_uuid && (s[0] == '\0' || strlen(s) > 128)) {
        util_errf(errstr, errstr_size, "%s must be 1 to 128 characters", path);
        return NULL;
    }
    return s;
}

int event_parse(struct event *ev, const void *data, size_t len, size_t max_bytes, char *errstr,
                size_t errstr_size)
{
    memset(ev, 0, sizeof(*ev));
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
    ev->id = get_field(root, "eventId", "eventId", 1, errstr, errstr_size);
    if (ev->id == NULL) {
        goto fail;
    }
    ev->type = get_field(root, "eventType", "eventType", 0, errstr, errstr_size);
    if (ev->type == NULL) {
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
    ev->account_id =
        get_field(details, "eventDetails.accountId", "accountId", 1, errstr, errstr_size);
    if (ev->account_id == NULL) {
        goto fail;
    }
    ev->root = root;
    return 0;
fail:
    json_decref(root);
    memset(ev, 0, sizeof(*ev));
    return -1;
}

void event_deinit(struct event *ev)
{
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}
