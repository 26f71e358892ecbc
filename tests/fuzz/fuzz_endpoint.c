/*
 * fuzz_endpoint: endpoint_from_json (bridge/endpoint.c), how the registry
 * reads each record of the endpoints topic.  Input: first byte = the key's
 * length (0xff: a record without a key, then "id" is required), then the
 * key's bytes, then the value (the record's JSON).  Properties: an accepted
 * endpoint passes every check on its own (id, account, URL, each secret)
 * and has at least one event type; written back with endpoint_to_json
 * (with secrets, as `endpoints put` produces it) and read again under the
 * same key it is the same endpoint (round trip).
 */
#include <jansson.h>

#include "endpoint.h"
#include "fuzz.h"

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
    char errstr[512] = "", why[512];
    char *key = NULL;

    if (size < 1) {
        return 0;
    }
    size_t key_len = data[0];
    data++;
    size--;
    if (key_len != 0xff) {
        if (key_len > size) {
            key_len = size;
        }
        key = fuzz_cstr(data, key_len);
        data += key_len;
        size -= key_len;
    }
    struct endpoint *ep = endpoint_from_json(key, data, size, errstr, sizeof(errstr));
    if (ep == NULL) {
        FUZZ_CHECK(errstr[0] != '\0');
        free(key);
        return 0;
    }
    FUZZ_CHECK(key == NULL || strcmp(key, ep->id) == 0);
    FUZZ_CHECK(endpoint_check_id(ep->id, why, sizeof(why)) == 0);
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
    free(key);
    return 0;
}
