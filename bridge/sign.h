/*
 * sign: Standard Webhooks signatures (DESIGN section 4).  The signed
 * content is "<webhook-id>.<webhook-timestamp>.<body>"; the signature is
 * base64(HMAC-SHA256(key, content)) where key is the base64-decoded part of
 * a "whsec_" secret; the header carries one "v1,<signature>" entry per
 * secret, space-separated, so that a receiver can rotate its secret.  The
 * same code signs the bridge's deliveries and verifies them in `receive`.
 *
 * Pure functions on their arguments, safe from any thread.  Nothing here
 * logs or prints a secret or a key.
 */
#ifndef BRIDGE_SIGN_H
#define BRIDGE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* One "v1,<44 base64 characters>" entry. */
#define SIGN_ENTRY_LEN 48
/* The longest decoded key accepted (Standard Webhooks keys are 24 to 64
 * bytes). */
#define SIGN_KEY_MAX 768
/* How far a timestamp may be from the receiver's clock (either way), as the
 * Standard Webhooks libraries do. */
#define SIGN_TOLERANCE_S 300

/* Decodes a "whsec_<base64>" secret into key (SIGN_KEY_MAX bytes).  A secret
 * without the prefix is decoded as base64 too, as the reference libraries
 * accept.  Returns the key's length, or -1 with the reason in errstr. */
int sign_key_decode(const char *secret, unsigned char *key, char *errstr,
                    size_t errstr_size) WB_MUST_CHECK;

/* The signature of one attempt with one key: "v1,<base64>" into out
 * (SIGN_ENTRY_LEN + 1 bytes).  Returns 0, or -1 if OpenSSL fails. */
int sign_entry(const unsigned char *key, size_t key_len, const char *msg_id, int64_t timestamp,
               const void *body, size_t body_len, char *out) WB_MUST_CHECK;

/* The webhook-signature header value for every secret, space-separated,
 * as a malloc'd string.  NULL with the reason in errstr when a secret does
 * not decode or OpenSSL fails. */
char *sign_header(char *const *secrets, size_t n_secrets, const char *msg_id, int64_t timestamp,
                  const void *body, size_t body_len, char *errstr, size_t errstr_size);

/* Checks a delivery as a receiver does: the timestamp is a number of
 * seconds within SIGN_TOLERANCE_S of now_s, and some "v1," entry of the
 * signature header matches some secret (compared in constant time).
 * Returns 0 when it verifies, else -1 with the reason in errstr. */
int sign_verify(char *const *secrets, size_t n_secrets, const char *msg_id, const char *timestamp,
                const char *signature_header, const void *body, size_t body_len, int64_t now_s,
                char *errstr, size_t errstr_size) WB_MUST_CHECK;

#endif
