/*
 * fuzz_jsonscan: the differential target for bridge/jsonscan.c.  Input:
 * any bytes, read as JSON by jsonscan and by jansson (json_loadb with
 * JSON_DECODE_ANY, the call it stands in for).  Checks: the same verdict;
 * on an accepted input the same root type and, for each field asked for
 * (the Event envelope's, and "a"/"a"."b" with buffers small enough to be
 * cut), the type json_object_get finds and, for a string, its length and
 * bytes.  Any difference is a bug in jsonscan.
 */
#include <jansson.h>

#include "fuzz.h"
#include "jsonscan.h"

static enum jsonscan_type type_of(const json_t *v)
{
    if (v == NULL) {
        return JSONSCAN_MISSING;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return JSONSCAN_OBJECT;
    case JSON_ARRAY:
        return JSONSCAN_ARRAY;
    case JSON_STRING:
        return JSONSCAN_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return JSONSCAN_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return JSONSCAN_BOOL;
    case JSON_NULL:
    default:
        return JSONSCAN_NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[37], type[129], details[1], account[37], a[4], b[2];
    struct jsonscan_field f[] = {
        {"eventId", NULL, id, sizeof(id), 0, 0},
        {"eventType", NULL, type, sizeof(type), 0, 0},
        {"eventDetails", NULL, details, sizeof(details), 0, 0},
        {"eventDetails", "accountId", account, sizeof(account), 0, 0},
        {"a", NULL, a, sizeof(a), 0, 0},
        {"a", "b", b, sizeof(b), 0, 0},
    };
    size_t nf = sizeof(f) / sizeof(f[0]);
    enum jsonscan_type root_type;
    int rc = jsonscan(data, size, &root_type, f, nf);
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK((rc == 0) == (root != NULL));
    if (root == NULL) {
        return 0;
    }
    FUZZ_CHECK(root_type == type_of(root));
    for (size_t i = 0; i < nf; i++) {
        json_t *v = json_is_object(root) ? json_object_get(root, f[i].key) : NULL;
        if (f[i].subkey != NULL) {
            v = json_is_object(v) ? json_object_get(v, f[i].subkey) : NULL;
        }
        FUZZ_CHECK(f[i].type == type_of(v));
        if (json_is_string(v)) {
            size_t len = json_string_length(v);
            size_t kept = len < f[i].cap - 1 ? len : f[i].cap - 1;
            FUZZ_CHECK(f[i].len == len);
            FUZZ_CHECK(memcmp(f[i].buf, json_string_value(v), kept) == 0);
            FUZZ_CHECK(f[i].buf[kept] == '\0');
        }
    }
    json_decref(root);
    return 0;
}
