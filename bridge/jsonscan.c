/*
 * jsonscan: one pass over the bytes, no allocation (but for a real number
 * too long for the stack to hand to strtod), no recursion: the open
 * containers are a bit stack (object or array) of JSONSCAN_MAX_DEPTH bits.
 * The grammar and its limits follow jansson 2.14's load.c as it behaves
 * (see jsonscan.h); each rule below names the jansson behaviour it copies.
 *
 * Fields: a root member whose key matches a field's key is "pending" for
 * the value that follows (its type and string are recorded); for a field
 * with a subkey, a matching root member that is an object becomes the
 * "parent" whose own members are matched against the subkey.  A repeated
 * key starts over, so the last one counts, as with json_object_get.
 */
#include "jsonscan.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Keys longer than this are only validated: no field key is this long. */
#define KEY_MAX 64

/* Numbers this long go to strtod from a heap copy. */
#define NUMBER_STACK 128

struct scanner {
    const unsigned char *p, *end;
    struct jsonscan_field *fields;
    size_t nfields;
    size_t key_len[JSONSCAN_MAX_FIELDS];    /* strlen of each field's key, */
    size_t subkey_len[JSONSCAN_MAX_FIELDS]; /* and subkey: once, not per member */
    unsigned parents;                       /* fields whose root[key] object is open at sub_depth */
    int sub_depth;
    int depth; /* open containers */
    unsigned char is_object[JSONSCAN_MAX_DEPTH / 8];
};

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* jansson's lexer skips these four between tokens, nothing else. */
static void skip_ws(struct scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) {
        s->p++;
    }
}

/* Length of the well-formed UTF-8 sequence at p (p[0] >= 0x80), or 0:
 * jansson's utf8_check_first/utf8_check_full refuse overlong forms,
 * surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            return 0;
        }
    }
    return n;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *v)
{
    if (end - p < 4) {
        return -1;
    }
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        x <<= 4;
        if (is_digit(c)) {
            x |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            x |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            x |= (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *v = x;
    return 0;
}

/* Appends n bytes to out (cap bytes, NUL kept room for), counting all. */
static void emit(char *out, size_t cap, size_t *len, const void *src, size_t n)
{
    if (out != NULL && *len < cap - 1) {
        size_t room = cap - 1 - *len;
        memcpy(out + *len, src, n < room ? n : room);
    }
    *len += n;
}

static size_t utf8_encode(uint32_t cp, char *b)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string, s->p just past its opening quote; decoded into out (cap
 * bytes, or NULL to only validate), its decoded length in *lenp. */
static int scan_string(struct scanner *s, char *out, size_t cap, size_t *lenp)
{
    const unsigned char *p = s->p, *end = s->end;
    size_t len = 0;
    for (;;) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++;
        }
        emit(out, cap, &len, run, (size_t)(p - run));
        if (p >= end) {
            return -1; /* premature end of input */
        }
        unsigned char c = *p;
        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            return -1; /* control character, a raw NUL included */
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (n == 0) {
                return -1;
            }
            emit(out, cap, &len, p, n);
            p += n;
            continue;
        }
        /* a backslash */
        if (end - p < 2) {
            return -1;
        }
        char one;
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            one = (char)p[1];
            break;
        case 'b':
            one = '\b';
            break;
        case 'f':
            one = '\f';
            break;
        case 'n':
            one = '\n';
            break;
        case 'r':
            one = '\r';
            break;
        case 't':
            one = '\t';
            break;
        case 'u': {
            uint32_t cp, low;
            if (hex4(p + 2, end, &cp) != 0) {
                return -1;
            }
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* a high surrogate needs \u and a low one right after */
                if (end - p < 2 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &low) != 0 ||
                    low < 0xDC00 || low > 0xDFFF) {
                    return -1;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
                return -1; /* a lone low surrogate; \u0000 (refused in keys and values) */
            }
            char b[4];
            size_t n = utf8_encode(cp, b);
            emit(out, cap, &len, b, n);
            continue;
        }
        default:
            return -1; /* invalid escape */
        }
        emit(out, cap, &len, &one, 1);
        p += 2;
    }
    if (out != NULL) {
        out[len < cap - 1 ? len : cap - 1] = '\0';
    }
    *lenp = len;
    s->p = p + 1;
    return 0;
}

/* Whether strtod overflows on the number's text, as jansson's
 * jsonp_strtod refuses it (underflow is accepted). */
static int real_overflows(const unsigned char *text, size_t n)
{
    char stack[NUMBER_STACK];
    char *copy = n < sizeof(stack) ? stack : malloc(n + 1);
    if (copy == NULL) {
        return 1; /* jansson would fail too, out of memory */
    }
    memcpy(copy, text, n);
    copy[n] = '\0';
    errno = 0;
    double v = strtod(copy, NULL);
    int over = (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE;
    if (copy != stack) {
        free(copy);
    }
    return over;
}

/* A number (jansson's lex_scan_number): -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?; an integer must fit int64_t, a real a double. */
static int scan_number(struct scanner *s)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    int neg = 0, real = 0, exp = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    const unsigned char *digits = p;
    if (p >= end || !is_digit(*p)) {
        return -1;
    }
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            return -1; /* a leading zero */
        }
    } else {
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    size_t int_digits = (size_t)(p - digits);
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            return -1;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            return -1;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
        real = exp = 1;
    }
    if (!real) {
        /* strtoll's range: 19 digits at most, then by comparison */
        if (int_digits > 19 ||
            (int_digits == 19 &&
             memcmp(digits, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0)) {
            return -1;
        }
    } else if ((exp || int_digits > 308) && real_overflows(start, (size_t)(p - start))) {
        /* without an exponent, fewer than 309 integer digits stay below
         * DBL_MAX: strtod only when it could overflow */
        return -1;
    }
    s->p = p;
    return 0;
}

/* true, false or null: jansson reads every letter, then compares. */
static int scan_literal(struct scanner *s, enum jsonscan_type *t)
{
    const unsigned char *p = s->p;
    while (p < s->end && is_alpha(*p)) {
        p++;
    }
    size_t n = (size_t)(p - s->p);
    if ((n == 4 && memcmp(s->p, "true", 4) == 0) || (n == 5 && memcmp(s->p, "false", 5) == 0)) {
        *t = JSONSCAN_BOOL;
    } else if (n == 4 && memcmp(s->p, "null", 4) == 0) {
        *t = JSONSCAN_NULL;
    } else {
        return -1;
    }
    s->p = p;
    return 0;
}

static void push(struct scanner *s, int object)
{
    unsigned char bit = (unsigned char)(1u << (s->depth % 8));
    if (object) {
        s->is_object[s->depth / 8] |= bit;
    } else {
        s->is_object[s->depth / 8] &= (unsigned char)~bit;
    }
    s->depth++;
}

static int top_is_object(const struct scanner *s)
{
    int d = s->depth - 1;
    return (s->is_object[d / 8] >> (d % 8)) & 1;
}

static void pop(struct scanner *s)
{
    if (s->parents != 0 && s->depth == s->sub_depth) {
        s->parents = 0;
    }
    s->depth--;
}

/* A member's key, s->p on its opening quote: the fields the member's value
 * is for (*pending) and those it may be the parent of (*parents). */
static int scan_key(struct scanner *s, unsigned *pending, unsigned *parents)
{
    char key[KEY_MAX + 1];
    size_t klen;
    key[0] = '\0';
    int root = s->depth == 1;
    int sub = s->parents != 0 && s->depth == s->sub_depth;
    s->p++;
    if (scan_string(s, root || sub ? key : NULL, sizeof(key), &klen) != 0) {
        return -1;
    }
    *pending = *parents = 0;
    if ((!root && !sub) || klen > KEY_MAX) {
        return 0;
    }
    for (size_t i = 0; i < s->nfields; i++) {
        struct jsonscan_field *f = &s->fields[i];
        if (root) {
            if (s->key_len[i] != klen || memcmp(f->key, key, klen) != 0) {
                continue;
            }
            if (f->subkey == NULL) {
                *pending |= 1u << i;
            } else {
                /* a later root[key] replaces this one: start over */
                *parents |= 1u << i;
                f->type = JSONSCAN_MISSING;
                f->len = 0;
                f->buf[0] = '\0';
            }
        } else if ((s->parents & (1u << i)) && s->subkey_len[i] == klen &&
                   memcmp(f->subkey, key, klen) == 0) {
            *pending |= 1u << i;
        }
    }
    return 0;
}

/* Records a scalar or container value for the pending fields. */
static void record(struct scanner *s, unsigned pending, enum jsonscan_type t)
{
    for (size_t i = 0; pending != 0 && i < s->nfields; i++) {
        if (pending & (1u << i)) {
            s->fields[i].type = t;
            if (t != JSONSCAN_STRING) { /* an earlier string member's, replaced */
                s->fields[i].len = 0;
                s->fields[i].buf[0] = '\0';
            }
        }
    }
}

/* A string value for the pending fields: decoded into the first, copied
 * to any other (paths are distinct, so there is at most one). */
static int scan_string_value(struct scanner *s, unsigned pending)
{
    struct jsonscan_field *first = NULL;
    size_t len;
    for (size_t i = 0; pending != 0 && i < s->nfields; i++) {
        if (pending & (1u << i)) {
            struct jsonscan_field *f = &s->fields[i];
            if (first == NULL) {
                if (scan_string(s, f->buf, f->cap, &len) != 0) {
                    return -1;
                }
                first = f;
            } else {
                size_t n = len < f->cap - 1 ? len : f->cap - 1;
                size_t have = len < first->cap - 1 ? len : first->cap - 1;
                memcpy(f->buf, first->buf, n < have ? n : have);
                f->buf[n < have ? n : have] = '\0';
            }
            f->len = len;
        }
    }
    return first != NULL ? 0 : scan_string(s, NULL, 1, &len);
}

int jsonscan(const void *data, size_t len, enum jsonscan_type *root_type,
             struct jsonscan_field *fields, size_t nfields)
{
    enum { VALUE, FIRST_ELEMENT, FIRST_MEMBER, MEMBER, AFTER } state = VALUE;
    struct scanner s;
    unsigned pending = 0, parents = 0;

    if (nfields > JSONSCAN_MAX_FIELDS) {
        return -1;
    }
    s.p = data;
    s.end = s.p + len;
    s.fields = fields;
    s.nfields = nfields;
    s.parents = 0;
    s.sub_depth = 0;
    s.depth = 0;
    *root_type = JSONSCAN_MISSING;
    for (size_t i = 0; i < nfields; i++) {
        s.key_len[i] = strlen(fields[i].key);
        s.subkey_len[i] = fields[i].subkey != NULL ? strlen(fields[i].subkey) : 0;
        fields[i].type = JSONSCAN_MISSING;
        fields[i].len = 0;
        fields[i].buf[0] = '\0';
    }

    for (;;) {
        skip_ws(&s);
        switch (state) {
        case FIRST_ELEMENT:
            if (s.p < s.end && *s.p == ']') {
                s.p++;
                pop(&s);
                state = AFTER;
                break;
            }
            state = VALUE;
            /* fall through */
        case VALUE: {
            /* jansson counts every value's level, scalars included */
            if (s.p >= s.end || s.depth + 1 > JSONSCAN_MAX_DEPTH) {
                return -1;
            }
            unsigned char c = *s.p;
            enum jsonscan_type t;
            if (c == '{' || c == '[') {
                t = c == '{' ? JSONSCAN_OBJECT : JSONSCAN_ARRAY;
                s.p++;
                push(&s, c == '{');
                if (c == '{' && parents != 0) {
                    s.parents = parents;
                    s.sub_depth = s.depth;
                }
                state = c == '{' ? FIRST_MEMBER : FIRST_ELEMENT;
            } else {
                if (c == '"') {
                    s.p++;
                    if (scan_string_value(&s, pending) != 0) {
                        return -1;
                    }
                    t = JSONSCAN_STRING;
                } else {
                    if (c == '-' || is_digit(c)) {
                        if (scan_number(&s) != 0) {
                            return -1;
                        }
                        t = JSONSCAN_NUMBER;
                    } else if (scan_literal(&s, &t) != 0) {
                        return -1;
                    }
                    /* jansson puts back the byte after a number or a
                     * literal; a NUL put back is then read past. */
                    if (s.p < s.end && *s.p == '\0') {
                        s.p++;
                    }
                }
                state = AFTER;
            }
            if (s.depth == (t == JSONSCAN_OBJECT || t == JSONSCAN_ARRAY ? 1 : 0)) {
                *root_type = t;
            }
            record(&s, pending, t);
            pending = parents = 0;
            break;
        }
        case FIRST_MEMBER:
            if (s.p < s.end && *s.p == '}') {
                s.p++;
                pop(&s);
                state = AFTER;
                break;
            }
            /* fall through */
        case MEMBER:
            if (s.p >= s.end || *s.p != '"' || scan_key(&s, &pending, &parents) != 0) {
                return -1;
            }
            skip_ws(&s);
            if (s.p >= s.end || *s.p != ':') {
                return -1;
            }
            s.p++;
            state = VALUE;
            break;
        case AFTER:
            if (s.depth == 0) {
                return s.p == s.end ? 0 : -1;
            }
            if (s.p >= s.end) {
                return -1;
            }
            if (*s.p == ',') {
                state = top_is_object(&s) ? MEMBER : VALUE;
            } else if (*s.p == (top_is_object(&s) ? '}' : ']')) {
                pop(&s);
            } else {
                return -1;
            }
            s.p++;
            break;
        }
    }
}
