/*
 * util: small helpers every module shares.  Nothing here keeps state, so
 * every function is safe from any thread.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "utf8.h"

static void oom(size_t size)
{
    fprintf(stderr, "webhook-bridge: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        oom(size);
    }
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        oom(n * size);
    }
    return p;
}

void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        oom(size);
    }
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
    return util_mono_us() / 1000;
}

int64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void util_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* n decimal digits at p, or -1. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Strict RFC 3339 (section 5.6): fixed positions, every field range-checked,
 * no reading past the terminating NUL (each field is checked digit by digit
 * before the next is looked at).  Times the writer cannot write back (at or
 * before the epoch, after 9999) are refused, so a record read is a record
 * that can be written again. */
long util_parse_count(const char *s, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    return v;
}

int util_parse_time(const char *s, int64_t *ms)
{
    int year = digits(s, 4);
    if (year < 0 || s[4] != '-') {
        return -1;
    }
    int mon = digits(s + 5, 2);
    if (mon < 1 || mon > 12 || s[7] != '-') {
        return -1;
    }
    int mday = digits(s + 8, 2);
    if (mday < 1 || mday > 31 || (s[10] != 'T' && s[10] != 't')) {
        return -1;
    }
    int hour = digits(s + 11, 2);
    if (hour < 0 || hour > 23 || s[13] != ':') {
        return -1;
    }
    int min = digits(s + 14, 2);
    if (min < 0 || min > 59 || s[16] != ':') {
        return -1;
    }
    int sec = digits(s + 17, 2);
    /* 60: a leap second (only ever at 23:59 UTC before an offset is
     * applied, so any minute here), taken as the next second. */
    if (sec < 0 || sec > 60) {
        return -1;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mday > mdays[mon - 1] + (mon == 2 && leap)) {
        return -1; /* February 30th */
    }
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 3) {
                frac = frac * 10 + (*p - '0');
            }
            n++;
            p++;
        }
        if (n == 0) {
            return -1;
        }
        for (; n < 3; n++) {
            frac *= 10;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int hh = digits(p + 1, 2);
        if (hh < 0 || hh > 23 || p[3] != ':') {
            return -1;
        }
        int mm = digits(p + 4, 2);
        if (mm < 0 || mm > 59) {
            return -1;
        }
        offset_s = sign * (hh * 3600 + mm * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') {
        return -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    int64_t v = ((int64_t)t - offset_s) * 1000 + frac;
    if (v <= 0 || v > UTIL_TIME_MAX_MS) {
        return -1;
    }
    *ms = v;
    return 0;
}

/* Random bytes for UUIDs, drawn from OpenSSL 4 KiB at a time per thread:
 * one RAND_bytes call per delivery was a measurable share of its CPU. */
#define UUID_POOL 4096
static _Thread_local unsigned char uuid_pool[UUID_POOL];
static _Thread_local size_t uuid_pool_left;

void util_uuid4(char *buf)
{
    if (uuid_pool_left < 16) {
        if (RAND_bytes(uuid_pool, UUID_POOL) != 1) {
            fprintf(stderr, "webhook-bridge: RAND_bytes failed\n");
            abort();
        }
        uuid_pool_left = UUID_POOL;
    }
    unsigned char *b = uuid_pool + UUID_POOL - uuid_pool_left;
    uuid_pool_left -= 16;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char *o = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *o++ = '-';
        }
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0x0f];
    }
    *o = '\0';
}

int util_is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[36] == '\0';
}

char *util_base64(const void *data, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

void util_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    utf8_repair(errstr); /* the cut, or a %.Ns, may split a character */
}
