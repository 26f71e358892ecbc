/*
 * endpoint: one registered webhook endpoint (id, account, URL, event types,
 * secrets) and the rule that decides whether it wants an event.  An endpoint
 * is immutable once built and reference counted: the registry and every
 * delivery that uses it share it read-only, so an update replaces it
 * without disturbing deliveries in flight.
 */
#ifndef BRIDGE_ENDPOINT_H
#define BRIDGE_ENDPOINT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util.h"

#define ENDPOINT_ID_MAX 128

struct endpoint {
    atomic_int refs; /* the registry holds one; each delivery using it one more */
    char *id;
    char *account_id;   /* a UUID, or "*" for every account */
    char *url;          /* http:// or https:// */
    char **event_types; /* "Subscribe", ...; a single "*" matches every type */
    size_t n_event_types;
    char **secrets; /* "whsec_..." (used for signing) */
    size_t n_secrets;
    bool enabled;
    char *description;
};

/* Allocates an empty endpoint (enabled, no types, no secrets) with one
 * reference, the caller's. */
struct endpoint *endpoint_new(void);
/* Deep copy, with one reference. */
struct endpoint *endpoint_dup(const struct endpoint *ep);
/* Takes another reference on an endpoint that is no longer changed (it is
 * immutable once shared).  Any thread. */
struct endpoint *endpoint_ref(const struct endpoint *ep);
/* Drops a reference; the last one frees it.  NULL is fine.  Any thread. */
void endpoint_unref(struct endpoint *ep);

/* Adds an event type / a secret (copied). */
void endpoint_add_event_type(struct endpoint *ep, const char *type);
void endpoint_add_secret(struct endpoint *ep, const char *secret);

/* 1 when ep is enabled and wants an event of this account and type. */
int endpoint_matches(const struct endpoint *ep, const char *account_id, const char *event_type);

/* Checks an endpoint id: 1-128 characters of [A-Za-z0-9._:-]. */
int endpoint_check_id(const char *id, char *errstr, size_t errstr_size) WB_MUST_CHECK;
/* The id an endpoints-topic record's key names: key is len bytes (NULL
 * when the record has none), not a C string.  Refused, with nothing written
 * to id but "": no key, a NUL byte, bytes that are not UTF-8, or anything
 * endpoint_check_id refuses.  id needs ENDPOINT_ID_MAX + 1 bytes.  The
 * message shows the key escaped (redact_bytes), never raw. */
int endpoint_id_from_key(const void *key, size_t len, char *id, char *errstr,
                         size_t errstr_size) WB_MUST_CHECK;
/* Checks a URL: absolute http:// or https:// with a host, parsed by libcurl's
 * URL API; no user:password part.  The message quotes the URL only as
 * redact_url shows it (no userinfo, query or fragment). */
int endpoint_check_url(const char *url, char *errstr, size_t errstr_size) WB_MUST_CHECK;
/* Checks an account id: a UUID or "*". */
int endpoint_check_account(const char *account_id, char *errstr, size_t errstr_size) WB_MUST_CHECK;
/* Checks a signing secret: "whsec_" then standard base64 of a non-empty key.
 * The message never quotes the secret. */
int endpoint_check_secret(const char *secret, char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* An endpoint from an endpoints-topic record (DESIGN section 3): key is the
 * record's key (the id; NULL when there is none, then "id" is required),
 * value the JSON.  Every field is checked with the rules above; unknown
 * fields are ignored (later versions may add some).  NULL with the reason
 * in errstr (which never quotes a secret) when it does not validate. */
struct endpoint *endpoint_from_json(const char *key, const void *value, size_t len, char *errstr,
                                    size_t errstr_size);

/* The record's JSON: with the secrets (to produce it), or with
 * "secretFingerprints" instead (to show it). */
json_t *endpoint_to_json(const struct endpoint *ep, int with_secrets);

/* "sha256:" and the first 12 hex digits of SHA-256(secret): tells two
 * secrets apart without showing either; out needs ENDPOINT_FINGERPRINT_LEN. */
#define ENDPOINT_FINGERPRINT_LEN 20
void endpoint_secret_fingerprint(const char *secret, char *out);

#endif
