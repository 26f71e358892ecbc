/*
 * fuzz_endpoint: regsync_parse_record (bridge/regsync.c), how the registry
 * reads each record of the endpoints topic: its key as bytes, then the
 * value with endpoint_from_json (bridge/endpoint.c).  Input: first byte =
 * the key's length (0xff: a record without a key), then the key's bytes,
 * then the value (the record's JSON; empty: a tombstone).  Properties: an
 * accepted key holds no NUL byte and is valid UTF-8 and a valid id (the
 * key "tep\0evil" once updated endpoint "tep"); an accepted endpoint
 * carries that id and passes every check on its own (id, account, URL,
 * each secret)
 * and has at least one event type; written back with endpoint_to_json
 * (with secrets, as `endpoints put` produces it) and read again under the
 * same key it is the same endpoint (round trip).
 */
#include <jansson.h>

#include "endpoint.h"
#include "fuzz.h"
#include "regsync.h"
#include "utf8.h"

static int same_strings(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static int same_endpoint(const struct endpoint *a, const struct endpoint *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->account_id, b->account_id) == 0 &&
           strcmp(a->url, b->url) == 0 && a->enabled == b->enabled &&
           (a->description == NULL) == (b->description == NULL) &&
           (a->description == NULL || strcmp(a->description, b->description) == 0) &&
           same_strings(a->event_types, a->n_event_types, b->event_types, b->n_event_types) &&
           same_strings(a->secrets, a->n_secrets, b->secrets, b->n_secrets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[512] = "", why[512], id[ENDPOINT_ID_MAX + 1];

    if (size < 1) {
        return 0;
    }
    size_t key_len = data[0];
    const uint8_t *key = NULL;
    data++;
    size--;
    if (key_len != 0xff) {
        if (key_len > size) {
            key_len = size;
        }
        key = data;
        data += key_len;
        size -= key_len;
    } else {
        key_len = 0;
    }
    struct endpoint *ep = NULL;
    if (regsync_parse_record(key, key_len, size > 0 ? data : NULL, size, id, &ep, errstr,
                             sizeof(errstr)) != 0) {
        FUZZ_CHECK(errstr[0] != '\0' && ep == NULL);
        FUZZ_CHECK(utf8_valid(errstr, strlen(errstr)));
        return 0;
    }
    if (key != NULL) {
        FUZZ_CHECK(memchr(key, 0, key_len) == NULL && utf8_valid((const char *)key, key_len));
        FUZZ_CHECK(strlen(id) == key_len && memcmp(id, key, key_len) == 0);
    }
    FUZZ_CHECK(endpoint_check_id(id, why, sizeof(why)) == 0);
    if (ep == NULL) {
        FUZZ_CHECK(size == 0); /* only a tombstone has no endpoint */
        return 0;
    }
    FUZZ_CHECK(strcmp(id, ep->id) == 0);
    FUZZ_CHECK(endpoint_check_account(ep->account_id, why, sizeof(why)) == 0);
    FUZZ_CHECK(endpoint_check_url(ep->url, why, sizeof(why)) == 0);
    FUZZ_CHECK(ep->n_event_types >= 1);
    for (size_t i = 0; i < ep->n_secrets; i++) {
        FUZZ_CHECK(endpoint_check_secret(ep->secrets[i], why, sizeof(why)) == 0);
    }

    json_t *obj = endpoint_to_json(ep, 1);
    FUZZ_CHECK(obj != NULL);
    char *text = json_dumps(obj, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    struct endpoint *again = endpoint_from_json(ep->id, text, strlen(text), errstr, sizeof(errstr));
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(same_endpoint(ep, again));

    endpoint_unref(again);
    free(text);
    json_decref(obj);
    endpoint_unref(ep);
    return 0;
}
