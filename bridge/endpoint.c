/*
 * endpoint: the registered webhook endpoint and its validation rules.
 *
 * The same checks serve the configuration file (conf.c) and the endpoints
 * topic (the registry), so a rule is written once.  An endpoint is built by
 * one thread, then shared read-only: nothing here locks.  Error texts follow
 * the config convention "what is wrong (expected WHAT)" so callers only add
 * "file:line: setting: " in front.  No message ever holds a byte of a
 * secret: a field error names the field, a JSON error its kind and place
 * (never jansson's "near '...'" context, which quotes the record).  Ids and
 * account ids are quoted escaped and bounded (redact_bytes), URLs without
 * user name, password, query or fragment (redact_url).
 */
#include "endpoint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "redact.h"
#include "sign.h"

/* Longer URLs are refused: no receiver needs one, and they end up in every
 * delivery record. */
#define ENDPOINT_URL_MAX 2048

struct endpoint *endpoint_new(void)
{
    struct endpoint *ep = xcalloc(1, sizeof(*ep));
    atomic_init(&ep->refs, 1);
    ep->enabled = true;
    return ep;
}

struct endpoint *endpoint_ref(const struct endpoint *ep)
{
    struct endpoint *e = (struct endpoint *)ep; /* only the count changes */
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

struct endpoint *endpoint_dup(const struct endpoint *ep)
{
    struct endpoint *copy = endpoint_new();

    copy->id = ep->id != NULL ? xstrdup(ep->id) : NULL;
    copy->account_id = ep->account_id != NULL ? xstrdup(ep->account_id) : NULL;
    copy->url = ep->url != NULL ? xstrdup(ep->url) : NULL;
    copy->description = ep->description != NULL ? xstrdup(ep->description) : NULL;
    copy->enabled = ep->enabled;
    for (size_t i = 0; i < ep->n_event_types; i++) {
        endpoint_add_event_type(copy, ep->event_types[i]);
    }
    for (size_t i = 0; i < ep->n_secrets; i++) {
        endpoint_add_secret(copy, ep->secrets[i]);
    }
    return copy;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void endpoint_unref(struct endpoint *ep)
{
    if (ep == NULL || atomic_fetch_sub_explicit(&ep->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    free(ep->id);
    free(ep->account_id);
    free(ep->url);
    free(ep->description);
    free_strings(ep->event_types, ep->n_event_types);
    for (size_t i = 0; i < ep->n_secrets; i++) {
        OPENSSL_cleanse(ep->secrets[i], strlen(ep->secrets[i]));
    }
    free_strings(ep->secrets, ep->n_secrets);
    free(ep);
}

/* Appends a copy of s to the array *v of *n strings.  Lists are short (a few
 * types, one or two secrets), so growing by one is fine. */
static void append_string(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = xstrdup(s);
    (*n)++;
}

void endpoint_add_event_type(struct endpoint *ep, const char *type)
{
    append_string(&ep->event_types, &ep->n_event_types, type);
}

void endpoint_add_secret(struct endpoint *ep, const char *secret)
{
    append_string(&ep->secrets, &ep->n_secrets, secret);
}

static int wants_type(const struct endpoint *ep, const char *event_type)
{
    if (ep->n_event_types == 1 && strcmp(ep->event_types[0], "*") == 0) {
        return 1;
    }
    for (size_t i = 0; i < ep->n_event_types; i++) {
        if (strcmp(ep->event_types[i], event_type) == 0) {
            return 1;
        }
    }
    return 0;
}

int endpoint_matches(const struct endpoint *ep, const char *account_id, const char *event_type)
{
    if (!ep->enabled || ep->account_id == NULL || account_id == NULL || event_type == NULL) {
        return 0;
    }
    if (strcmp(ep->account_id, "*") != 0 && strcasecmp(ep->account_id, account_id) != 0) {
        return 0;
    }
    return wants_type(ep, event_type);
}

static int is_id_char(int c)
{
    return isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

int endpoint_check_id(const char *id, char *errstr, size_t errstr_size)
{
    size_t len = strlen(id);

    if (len == 0) {
        util_errf(errstr, errstr_size,
                  "empty id (expected 1 to %d characters of A-Z a-z 0-9 . _ : -)", ENDPOINT_ID_MAX);
        return -1;
    }
    if (len > ENDPOINT_ID_MAX) {
        util_errf(errstr, errstr_size, "id is %zu characters long (expected at most %d)", len,
                  ENDPOINT_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_id_char((unsigned char)id[i])) {
            /* Escaped: the id may come from a record's key, any bytes. */
            char shown[REDACT_BYTES_LEN];
            redact_bytes(id, len, shown, sizeof(shown));
            util_errf(errstr, errstr_size,
                      "id \"%s\" has a character that is not allowed at position %zu "
                      "(expected only A-Z a-z 0-9 . _ : -)",
                      shown, i + 1);
            return -1;
        }
    }
    return 0;
}

int endpoint_id_from_key(const void *key, size_t len, char *id, char *errstr, size_t errstr_size)
{
    id[0] = '\0';
    if (key == NULL || len == 0) {
        util_errf(errstr, errstr_size, "the record has no key (expected the endpoint id)");
        return -1;
    }
    if (len > ENDPOINT_ID_MAX) {
        util_errf(errstr, errstr_size,
                  "the key is %zu bytes long (expected an endpoint id of at most %d characters)",
                  len, ENDPOINT_ID_MAX);
        return -1;
    }
    /* Checked on the bytes, before the key becomes a C string: "tep\0evil"
     * must not be read as the id "tep". */
    const char *nul = memchr(key, '\0', len);
    if (nul != NULL) {
        util_errf(errstr, errstr_size,
                  "the key has a NUL byte at position %zu (expected an endpoint id: only "
                  "A-Z a-z 0-9 . _ : -)",
                  (size_t)(nul - (const char *)key) + 1);
        return -1;
    }
    json_t *utf8 = json_stringn(key, len);
    if (utf8 == NULL) {
        util_errf(errstr, errstr_size,
                  "the key is not valid UTF-8 (expected an endpoint id: only A-Z a-z 0-9 . _ : -)");
        return -1;
    }
    json_decref(utf8);
    memcpy(id, key, len);
    id[len] = '\0';
    if (endpoint_check_id(id, errstr, errstr_size) != 0) {
        id[0] = '\0';
        return -1;
    }
    return 0;
}

int endpoint_check_account(const char *account_id, char *errstr, size_t errstr_size)
{
    if (strcmp(account_id, "*") == 0 || util_is_uuid(account_id)) {
        return 0;
    }
    /* Escaped and bounded: the value may come from a record, any length. */
    char shown[REDACT_BYTES_LEN];
    redact_bytes(account_id, strlen(account_id), shown, sizeof(shown));
    util_errf(errstr, errstr_size,
              "\"%s\" is not a UUID (expected 8-4-4-4-12 hex digits such as "
              "\"0b98ef2c-f739-45f1-81e3-b2def2bb868f\", or \"*\" for every account)",
              shown);
    return -1;
}

int endpoint_check_url(const char *url, char *errstr, size_t errstr_size)
{
    CURLU *u = NULL;
    char *scheme = NULL;
    char *host = NULL;
    char *user = NULL;
    char *password = NULL;
    char shown[REDACT_URL_LEN];
    int ret = -1;

    /* Delivery records are JSON, so the URL must be valid UTF-8 (jansson checks). */
    json_t *utf8 = json_string(url);
    if (utf8 == NULL) {
        util_errf(errstr, errstr_size, "URL is not valid UTF-8");
        goto out;
    }
    json_decref(utf8);
    if (strlen(url) > ENDPOINT_URL_MAX) {
        util_errf(errstr, errstr_size, "URL is %zu characters long (expected at most %d)",
                  strlen(url), ENDPOINT_URL_MAX);
        goto out;
    }
    u = curl_url();
    if (u == NULL) {
        util_errf(errstr, errstr_size, "out of memory parsing the URL");
        goto out;
    }
    /* CURLU_NON_SUPPORT_SCHEME: parse any scheme, so "ftp://" is refused
     * below with a clear reason rather than as "unsupported by libcurl". */
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK) {
        /* Not quoted: only a parsed URL can be shown without its
         * credentials (redact_url). */
        if (strstr(url, "://") == NULL) {
            util_errf(errstr, errstr_size,
                      "the URL is not absolute (expected http:// or https:// followed by a "
                      "host, e.g. \"https://hooks.example.com/webhook\")");
        } else if (rc == CURLUE_NO_HOST) {
            util_errf(errstr, errstr_size,
                      "the URL has no host (expected http:// or https:// followed by a host)");
        } else {
            util_errf(errstr, errstr_size,
                      "the URL is not valid: %s (expected an absolute http:// or https:// URL "
                      "such as \"https://hooks.example.com/webhook\")",
                      curl_url_strerror(rc));
        }
        goto out;
    }
    /* From here on the URL is quoted as logs show it: without userinfo,
     * query or fragment. */
    redact_url(url, shown, sizeof(shown));
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
        util_errf(errstr, errstr_size,
                  "the URL contains a user name or password (expected no credentials in the URL: "
                  "receivers authenticate deliveries with the signing secrets)");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        util_errf(errstr, errstr_size, "\"%s\" has no scheme (expected http:// or https://)",
                  shown);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        util_errf(errstr, errstr_size, "\"%s\" has scheme \"%s\" (expected http:// or https://)",
                  shown, scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        util_errf(errstr, errstr_size, "\"%s\" has no host (expected http(s)://HOST/...)", shown);
        goto out;
    }
    ret = 0;
out:
    curl_free(password);
    curl_free(user);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ret;
}

int endpoint_check_secret(const char *secret, char *errstr, size_t errstr_size)
{
    unsigned char key[SIGN_KEY_MAX];
    int n = sign_key_decode(secret, key, errstr, errstr_size);
    OPENSSL_cleanse(key, sizeof(key));
    return n < 0 ? -1 : 0;
}

/* ---- the endpoints-topic record (DESIGN section 3) -------------------- */

/* A string field; *out NULL when absent and optional. */
static int json_str(json_t *obj, const char *key, int required, const char **out, char *errstr,
                    size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            util_errf(errstr, errstr_size, "\"%s\" is missing (expected a string)", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        util_errf(errstr, errstr_size, "\"%s\" must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A list of strings; each passes check (which may be NULL). */
static int json_str_list(json_t *obj, const char *key, int required, struct endpoint *ep,
                         void (*add)(struct endpoint *, const char *),
                         int (*check)(const char *, char *, size_t), char *errstr,
                         size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            util_errf(errstr, errstr_size, "\"%s\" is missing (expected a list of strings)", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_array(v)) {
        util_errf(errstr, errstr_size, "\"%s\" must be a list of strings", key);
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        char why[256];
        if (!json_is_string(item)) {
            util_errf(errstr, errstr_size, "\"%s\"[%zu] must be a string", key, i);
            return -1;
        }
        if (check != NULL && check(json_string_value(item), why, sizeof(why)) != 0) {
            util_errf(errstr, errstr_size, "\"%s\"[%zu]: %s", key, i, why);
            return -1;
        }
        add(ep, json_string_value(item));
    }
    return 0;
}

static int check_event_type(const char *type, char *errstr, size_t errstr_size)
{
    if (type[0] == '\0' || strlen(type) > 128) {
        util_errf(errstr, errstr_size,
                  "event type must be 1 to 128 characters (expected a type such as "
                  "\"Subscribe\", or \"*\")");
        return -1;
    }
    return 0;
}

struct endpoint *endpoint_from_json(const char *key, const void *value, size_t len, char *errstr,
                                    size_t errstr_size)
{
    struct endpoint *ep = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(value, len, 0, &jerr);
    const char *id, *account, *url, *description;
    char why[512];

    if (root == NULL) {
        /* Not jerr.text: jansson ends it with "near '<the bytes there>'",
         * which for a broken "secrets" list is the secret. */
        util_errf(errstr, errstr_size, "not valid JSON: %s at line %d, column %d (byte %d)",
                  redact_json_error(&jerr), jerr.line, jerr.column, jerr.position);
        goto fail;
    }
    if (!json_is_object(root)) {
        util_errf(errstr, errstr_size, "must be a JSON object");
        goto fail;
    }
    if (json_str(root, "id", key == NULL, &id, errstr, errstr_size) != 0 ||
        json_str(root, "accountId", 1, &account, errstr, errstr_size) != 0 ||
        json_str(root, "url", 1, &url, errstr, errstr_size) != 0 ||
        json_str(root, "description", 0, &description, errstr, errstr_size) != 0) {
        goto fail;
    }
    if (id == NULL) {
        id = key;
    } else if (key != NULL && strcmp(id, key) != 0) {
        util_errf(errstr, errstr_size,
                  "\"id\" is not the record's key (expected the same endpoint id in both)");
        goto fail;
    }
    if (endpoint_check_id(id, why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "id: %s", why);
        goto fail;
    }
    if (endpoint_check_account(account, why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "accountId: %s", why);
        goto fail;
    }
    if (endpoint_check_url(url, why, sizeof(why)) != 0) {
        util_errf(errstr, errstr_size, "url: %s", why);
        goto fail;
    }
    json_t *enabled = json_object_get(root, "enabled");
    if (enabled != NULL && !json_is_boolean(enabled) && !json_is_null(enabled)) {
        util_errf(errstr, errstr_size, "\"enabled\" must be true or false");
        goto fail;
    }
    ep = endpoint_new();
    ep->id = xstrdup(id);
    ep->account_id = xstrdup(account);
    ep->url = xstrdup(url);
    ep->description = description != NULL ? xstrdup(description) : NULL;
    ep->enabled = enabled == NULL || json_is_null(enabled) || json_is_true(enabled);
    if (json_str_list(root, "eventTypes", 1, ep, endpoint_add_event_type, check_event_type, errstr,
                      errstr_size) != 0 ||
        json_str_list(root, "secrets", 0, ep, endpoint_add_secret, endpoint_check_secret, errstr,
                      errstr_size) != 0) {
        goto fail;
    }
    if (ep->n_event_types == 0) {
        util_errf(errstr, errstr_size,
                  "\"eventTypes\" is empty (expected event types such as [\"Subscribe\"], or "
                  "[\"*\"])");
        goto fail;
    }
    for (size_t i = 0; ep->n_event_types > 1 && i < ep->n_event_types; i++) {
        if (strcmp(ep->event_types[i], "*") == 0) {
            util_errf(errstr, errstr_size,
                      "\"*\" is mixed with other event types (expected [\"*\"] alone, or a "
                      "list of event types without \"*\")");
            goto fail;
        }
    }
    json_decref(root);
    return ep;
fail:
    json_decref(root);
    endpoint_unref(ep);
    return NULL;
}

void endpoint_secret_fingerprint(const char *secret, char *out)
{
    unsigned char md[32];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 6; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 0x0f];
    }
    out[ENDPOINT_FINGERPRINT_LEN - 1] = '\0';
}

json_t *endpoint_to_json(const struct endpoint *ep, int with_secrets)
{
    json_t *types = json_array();
    for (size_t i = 0; i < ep->n_event_types; i++) {
        json_array_append_new(types, json_string(ep->event_types[i]));
    }
    json_t *secrets = json_array();
    for (size_t i = 0; i < ep->n_secrets; i++) {
        if (with_secrets) {
            json_array_append_new(secrets, json_string(ep->secrets[i]));
        } else {
            char fp[ENDPOINT_FINGERPRINT_LEN];
            endpoint_secret_fingerprint(ep->secrets[i], fp);
            json_array_append_new(secrets, json_string(fp));
        }
    }
    json_t *obj =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "id", ep->id, "accountId", ep->account_id,
                  "url", ep->url, "eventTypes", types,
                  with_secrets ? "secrets" : "secretFingerprints", secrets, "enabled", ep->enabled);
    if (ep->description != NULL) {
        json_object_set_new(obj, "description", json_string(ep->description));
    }
    return obj;
}
