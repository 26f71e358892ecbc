/*
 * sign: HMAC-SHA256 over "<id>.<timestamp>.<body>" with OpenSSL's EVP_MAC,
 * fed in three pieces so that the body is never copied; base64 with
 * EVP_EncodeBlock / EVP_DecodeBlock.  Any thread: every call has its own
 * EVP_MAC_CTX.
 */
#include "sign.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>

#define SECRET_PREFIX "whsec_"
#define SECRET_B64_MAX (SIGN_KEY_MAX / 3 * 4)
#define DIGEST_LEN 32 /* SHA-256 */

static int is_base64_char(int c)
{
    return isalnum(c) || c == '+' || c == '/';
}

/* Strict standard base64: alphabet only, length a multiple of 4, at most
 * two '=' of padding at the end. */
static int is_base64(const char *s, size_t len)
{
    size_t pad = 0;

    if (len == 0 || len % 4 != 0) {
        return 0;
    }
    while (pad < 2 && s[len - 1 - pad] == '=') {
        pad++;
    }
    for (size_t i = 0; i < len - pad; i++) {
        if (!is_base64_char((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int sign_key_decode(const char *secret, unsigned char *key, char *errstr, size_t errstr_size)
{
    size_t prefix_len = strlen(SECRET_PREFIX);

    if (strncmp(secret, SECRET_PREFIX, prefix_len) != 0) {
        util_errf(errstr, errstr_size,
                  "secret does not start with \"" SECRET_PREFIX "\" "
                  "(expected \"" SECRET_PREFIX "\" followed by the base64 key)");
        return -1;
    }
    const char *b64 = secret + prefix_len;
    size_t len = strlen(b64);
    if (len > SECRET_B64_MAX) {
        util_errf(errstr, errstr_size, "secret is %zu characters long (expected at most %zu)",
                  strlen(secret), (size_t)SECRET_B64_MAX + prefix_len);
        return -1;
    }
    if (!is_base64(b64, len)) {
        util_errf(errstr, errstr_size,
                  "secret is not valid base64 after \"" SECRET_PREFIX "\" "
                  "(expected \"" SECRET_PREFIX "\" followed by standard base64, "
                  "e.g. from: openssl rand -base64 32)");
        return -1;
    }
    /* EVP_DecodeBlock counts padding as output bytes: subtract it. */
    int n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)len);
    int pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
    if (n < 0 || n <= pad) {
        util_errf(errstr, errstr_size,
                  "secret has an empty or undecodable key after \"" SECRET_PREFIX "\" "
                  "(expected \"" SECRET_PREFIX "\" followed by a non-empty base64 key)");
        return -1;
    }
    return n - pad;
}

/* The HMAC implementation, fetched from OpenSSL's provider once (a fetch
 * per signature is a locked lookup); an EVP_MAC is shared by every thread's
 * contexts and kept for the life of the process. */
static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* HMAC-SHA256(key, id "." ts "." body) into digest (DIGEST_LEN bytes). */
static int hmac(const unsigned char *key, size_t key_len, const char *msg_id, const char *ts,
                const void *body, size_t body_len, unsigned char *digest)
{
    EVP_MAC_CTX *ctx = NULL;
    size_t out_len = 0;
    int ret = -1;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };

    pthread_once(&hmac_once, hmac_fetch);
    if (hmac_impl == NULL) {
        goto out;
    }
    ctx = EVP_MAC_CTX_new(hmac_impl);
    if (ctx == NULL || EVP_MAC_init(ctx, key, key_len, params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        EVP_MAC_update(ctx, body, body_len) != 1 ||
        EVP_MAC_final(ctx, digest, &out_len, DIGEST_LEN) != 1 || out_len != DIGEST_LEN) {
        goto out;
    }
    ret = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return ret;
}

int sign_entry(const unsigned char *key, size_t key_len, const char *msg_id, int64_t timestamp,
               const void *body, size_t body_len, char *out)
{
    unsigned char digest[DIGEST_LEN];
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    if (hmac(key, key_len, msg_id, ts, body, body_len, digest) != 0) {
        return -1;
    }
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, digest, DIGEST_LEN);
    OPENSSL_cleanse(digest, sizeof(digest));
    return 0;
}

char *sign_header(char *const *secrets, size_t n_secrets, const char *msg_id, int64_t timestamp,
                  const void *body, size_t body_len, char *errstr, size_t errstr_size)
{
    unsigned char key[SIGN_KEY_MAX];
    char *out = xmalloc(n_secrets * (SIGN_ENTRY_LEN + 1) + 1);
    char *p = out;

    *p = '\0';
    for (size_t i = 0; i < n_secrets; i++) {
        int key_len = sign_key_decode(secrets[i], key, errstr, errstr_size);
        if (key_len < 0) {
            goto fail;
        }
        if (i > 0) {
            *p++ = ' ';
        }
        if (sign_entry(key, (size_t)key_len, msg_id, timestamp, body, body_len, p) != 0) {
            util_errf(errstr, errstr_size, "HMAC-SHA256 failed in OpenSSL");
            goto fail;
        }
        p += strlen(p);
    }
    OPENSSL_cleanse(key, sizeof(key));
    return out;
fail:
    OPENSSL_cleanse(key, sizeof(key));
    free(out);
    return NULL;
}

/* Parses a timestamp header: decimal seconds, nothing else. */
static int parse_seconds(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 18) {
        return -1;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
    }
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

int sign_verify(char *const *secrets, size_t n_secrets, const char *msg_id, const char *timestamp,
                const char *signature_header, const void *body, size_t body_len, int64_t now_s,
                char *errstr, size_t errstr_size)
{
    unsigned char key[SIGN_KEY_MAX];
    int64_t ts;
    int ret = -1;

    if (msg_id == NULL || *msg_id == '\0') {
        util_errf(errstr, errstr_size, "no webhook-id header");
        goto out;
    }
    if (parse_seconds(timestamp, &ts) != 0) {
        util_errf(errstr, errstr_size, "webhook-timestamp is missing or not a number of seconds");
        goto out;
    }
    if (ts < now_s - SIGN_TOLERANCE_S || ts > now_s + SIGN_TOLERANCE_S) {
        util_errf(errstr, errstr_size,
                  "webhook-timestamp %lld is %lld s from now (tolerance %d s): too old or too "
                  "new",
                  (long long)ts, (long long)(ts - now_s), SIGN_TOLERANCE_S);
        goto out;
    }
    if (signature_header == NULL || *signature_header == '\0') {
        util_errf(errstr, errstr_size, "no webhook-signature header");
        goto out;
    }
    for (size_t i = 0; i < n_secrets; i++) {
        char expected[SIGN_ENTRY_LEN + 1];
        int key_len = sign_key_decode(secrets[i], key, errstr, errstr_size);
        if (key_len < 0) {
            goto out;
        }
        if (sign_entry(key, (size_t)key_len, msg_id, ts, body, body_len, expected) != 0) {
            util_errf(errstr, errstr_size, "HMAC-SHA256 failed in OpenSSL");
            goto out;
        }
        size_t elen = strlen(expected);
        /* Entries are separated by spaces; only "v1," entries count. */
        for (const char *p = signature_header; *p != '\0';) {
            while (*p == ' ') {
                p++;
            }
            size_t len = strcspn(p, " ");
            if (len == elen && CRYPTO_memcmp(p, expected, elen) == 0) {
                ret = 0;
                goto out;
            }
            p += len;
        }
    }
    util_errf(errstr, errstr_size,
              "no v1 signature matches (wrong secret, or the body or "
              "headers were changed on the way)");
out:
    OPENSSL_cleanse(key, sizeof(key));
    return ret;
}
