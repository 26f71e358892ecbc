/*
 * jsonw: JSON text written straight into a buffer (see jsonw.h).
 */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

static void reserve(struct jsonw *w, size_t more)
{
    if (w->len + more + 1 <= w->cap) {
        return;
    }
    size_t cap = w->cap > 0 ? w->cap : 256;
    while (cap < w->len + more + 1) {
        cap *= 2;
    }
    w->buf = xrealloc(w->buf, cap);
    w->cap = cap;
}

static void put(struct jsonw *w, const void *s, size_t n)
{
    reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put_char(struct jsonw *w, char c)
{
    reserve(w, 1);
    w->buf[w->len++] = c;
}

/* Before a value: the comma between array elements (an object's comes with
 * its key). */
static void before_value(struct jsonw *w)
{
    if (w->depth == 0) {
        return;
    }
    unsigned bit = 1u << (w->depth - 1);
    if (w->array & bit) {
        if (!(w->first & bit)) {
            put_char(w, ',');
        }
        w->first &= ~bit;
    }
}

static void open_container(struct jsonw *w, char c, int is_array)
{
    before_value(w);
    if (w->depth >= JSONW_DEPTH) {
        w->failed = 1;
        return;
    }
    put_char(w, c);
    unsigned bit = 1u << w->depth;
    w->depth++;
    w->first |= bit;
    if (is_array) {
        w->array |= bit;
    } else {
        w->array &= ~bit;
    }
}

void jsonw_init(struct jsonw *w, size_t hint)
{
    memset(w, 0, sizeof(*w));
    reserve(w, hint);
}

void jsonw_object(struct jsonw *w)
{
    open_container(w, '{', 0);
}

void jsonw_array(struct jsonw *w)
{
    open_container(w, '[', 1);
}

void jsonw_close(struct jsonw *w)
{
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put_char(w, (w->array & (1u << w->depth)) ? ']' : '}');
}

void jsonw_key(struct jsonw *w, const char *key)
{
    unsigned bit = w->depth > 0 ? 1u << (w->depth - 1) : 0;
    if (bit == 0 || (w->array & bit)) {
        w->failed = 1; /* a key outside an object */
        return;
    }
    size_t n = strlen(key);
    reserve(w, n + 4);
    if (!(w->first & bit)) {
        w->buf[w->len++] = ',';
    }
    w->first &= ~bit;
    w->buf[w->len++] = '"';
    memcpy(w->buf + w->len, key, n);
    w->len += n;
    w->buf[w->len++] = '"';
    w->buf[w->len++] = ':';
}

void jsonw_null(struct jsonw *w)
{
    before_value(w);
    put(w, "null", 4);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    before_value(w);
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    put(w, num, (size_t)n);
}

/* len bytes of valid UTF-8, quoted and escaped as jansson escapes. */
static void put_string(struct jsonw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    reserve(w, len + 2);
    w->buf[w->len++] = '"';
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        put(w, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            n = 6;
            break;
        }
        put(w, esc, n);
    }
    put(w, s + run, len - run);
    put_char(w, '"');
}

void jsonw_str(struct jsonw *w, const char *s)
{
    if (s == NULL) {
        jsonw_null(w);
        return;
    }
    jsonw_strn(w, s, strlen(s)); /* no NUL inside: as json_string takes it */
}

void jsonw_strn(struct jsonw *w, const char *s, size_t len)
{
    if (!utf8_valid(s, len)) {
        w->failed = 1; /* json_string(n) refuses it too */
        return;
    }
    before_value(w);
    put_string(w, s, len);
}

void jsonw_str_repaired(struct jsonw *w, const char *s, size_t max)
{
    if (s == NULL) {
        jsonw_null(w);
        return;
    }
    size_t len = strlen(s);
    size_t n = utf8_cut(s, len, max);
    before_value(w);
    if (utf8_valid(s, n)) {
        put_string(w, s, n); /* the common case */
        return;
    }
    /* Outside text with invalid bytes: utf8_json repairs it, and its
     * repaired bytes are written as any other string. */
    json_t *v = utf8_json(s, len, max);
    put_string(w, json_string_value(v), json_string_length(v));
    json_decref(v);
}

void jsonw_time(struct jsonw *w, int64_t ms)
{
    if (ms <= 0) {
        jsonw_null(w);
        return;
    }
    char buf[UTIL_TIME_LEN];
    util_format_time(ms, buf, sizeof(buf));
    before_value(w);
    put_char(w, '"');
    put(w, buf, strlen(buf));
    put_char(w, '"');
}

void jsonw_raw(struct jsonw *w, const void *json, size_t len)
{
    before_value(w);
    put(w, json, len);
}

char *jsonw_finish(struct jsonw *w, size_t *lenp)
{
    char *out = NULL;
    if (!w->failed && w->depth == 0) {
        reserve(w, 0);
        w->buf[w->len] = '\0';
        out = w->buf;
        *lenp = w->len;
    } else {
        free(w->buf);
    }
    memset(w, 0, sizeof(*w));
    return out;
}
