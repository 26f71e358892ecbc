/*
 * utf8: validation, boundary-safe cutting and repair of text bound for JSON
 * records and logs (see utf8.h).  Pure; any thread.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the valid character at s (at most n bytes available), or 0 when
 * s does not start a valid character.  The rules of RFC 3629, which are
 * jansson's. */
static int is_cont(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

static size_t char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0; /* a continuation byte, an overlong lead (C0, C1) or F5..FF */
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0; /* overlong, beyond Unicode, or a surrogate */
    }
    return len;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = char_len(p + i, len - i);
        if (n == 0) {
            return 0;
        }
        i += n;
    }
    return 1;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    /* Back over continuation bytes to the start of the character that the
     * cut falls in (at most 3 of them in valid text; in invalid text the
     * cut may fall anywhere, as the bytes are replaced anyway). */
    size_t n = max;
    for (int back = 0; back < 3 && n > 0 && is_cont(s[n]); back++) {
        n--;
    }
    return is_cont(s[n]) ? max : n;
}

void utf8_repair(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        size_t n = char_len(p + i, len - i);
        if (n > 0) {
            i += n;
            continue;
        }
        /* A lead byte whose character the end of the string cut: drop the
         * tail rather than show '?'s for what was a good character. */
        size_t want = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : p[i] >= 0xC2 ? 2 : 0;
        int cut = want > 0 && i + want > len;
        for (size_t j = i + 1; cut && j < len; j++) {
            cut = is_cont(s[j]);
        }
        if (cut) {
            p[i] = '\0';
            return;
        }
        p[i++] = '?';
    }
}

json_t *utf8_json(const char *s, size_t len, size_t max)
{
    size_t n = utf8_cut(s, len, max);
    json_t *v = json_stringn(s, n);
    if (v != NULL) {
        return v; /* valid as it is: the common case */
    }
    /* Each invalid byte becomes U+FFFD (3 bytes): build within max. */
    char *buf = xmalloc(max + 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t c = char_len(p + i, n - i);
        const char *src = c > 0 ? s + i : "\xEF\xBF\xBD";
        size_t w = c > 0 ? c : 3;
        if (o + w > max) {
            break;
        }
        memcpy(buf + o, src, w);
        o += w;
        i += c > 0 ? c : 1;
    }
    v = json_stringn(buf, o);
    free(buf);
    if (v == NULL) {
        abort(); /* valid by construction: only out-of-memory gets here */
    }
    return v;
}

json_t *utf8_json_or_null(const char *s, size_t max)
{
    return s != NULL ? utf8_json(s, strlen(s), max) : json_null();
}
