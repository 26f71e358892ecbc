/*
 * redact: outside values made safe to log.  Keys and ids are escaped to
 * printable ASCII (a log reader's terminal never sees a raw control byte,
 * and a NUL byte is visible instead of ending the string).  URLs are taken
 * apart by libcurl's URL API, the same parser that sends the request, and
 * put back together from the parts that carry no credentials.
 */
#include "redact.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

void redact_bytes(const void *data, size_t len, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    size_t shown = len > REDACT_BYTES_SHOWN ? REDACT_BYTES_SHOWN : len;
    size_t o = 0;

    if (out_size == 0) {
        return;
    }
    for (size_t i = 0; i < shown; i++) {
        char esc[4];
        size_t n;
        if (p[i] == '\\') {
            esc[0] = '\\';
            esc[1] = '\\';
            n = 2;
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            esc[0] = (char)p[i];
            n = 1;
        } else {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[p[i] >> 4];
            esc[3] = hex[p[i] & 0x0f];
            n = 4;
        }
        if (o + n >= out_size) {
            break; /* never half an escape */
        }
        for (size_t k = 0; k < n; k++) {
            out[o++] = esc[k];
        }
    }
    out[o] = '\0';
    if (shown < len) {
        snprintf(out + o, out_size - o, "...(%zu bytes)", len);
    }
}

/* Appends s to out[*o...], %XX-escaping bytes that are not printable ASCII;
 * 0 when it all fit, -1 when it was cut. */
static int append_escaped(char *out, size_t out_size, size_t *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        int plain = *p > 0x20 && *p < 0x7f;
        size_t n = plain ? 1 : 3;
        if (*o + n >= out_size) {
            return -1;
        }
        if (plain) {
            out[(*o)++] = (char)*p;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[*p >> 4];
            out[(*o)++] = hex[*p & 0x0f];
        }
    }
    return 0;
}

void redact_url(const char *url, char *out, size_t out_size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    size_t o = 0;

    if (out_size == 0) {
        goto out;
    }
    out[0] = '\0';
    /* CURLU_NON_SUPPORT_SCHEME: an ftp:// URL is still shown (as refused). */
    if (u == NULL || url == NULL ||
        curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(out, out_size, "%s", REDACT_URL_UNPARSABLE);
        goto out;
    }
    /* Only a port the URL names (flags 0: no scheme default filled in). */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) {
        port = NULL;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        path = NULL;
    }
    int cut = append_escaped(out, out_size, &o, scheme) != 0 ||
              append_escaped(out, out_size, &o, "://") != 0 ||
              append_escaped(out, out_size, &o, host) != 0 ||
              (port != NULL && (append_escaped(out, out_size, &o, ":") != 0 ||
                                append_escaped(out, out_size, &o, port) != 0)) ||
              (path != NULL && append_escaped(out, out_size, &o, path) != 0);
    out[o] = '\0';
    if (cut) {
        /* Everything written is ASCII, so any cut is a clean one. */
        o = out_size > 4 && o > out_size - 4 ? out_size - 4 : o;
        snprintf(out + o, out_size - o, "...");
    }
out:
    curl_free(path);
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
}

const char *redact_json_error(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory:
        return "out of memory";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "premature end of input";
    case json_error_end_of_input_expected:
        return "text after the JSON document";
    case json_error_invalid_syntax:
        return "invalid syntax";
    case json_error_null_character:
        return "a NUL byte in a string";
    case json_error_null_byte_in_key:
        return "a NUL byte in an object key";
    case json_error_duplicate_key:
        return "a duplicate object key";
    case json_error_numeric_overflow:
        return "a number out of range";
    default:
        return "invalid JSON";
    }
}
