/*
 * util: allocation wrappers that abort on out-of-memory, clocks, RFC 3339
 * time formatting, UUIDs and base64.  Pure functions, safe from any thread.
 */
#ifndef BRIDGE_UTIL_H
#define BRIDGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define WB_VERSION "0.1.0"

#define WB_UNUSED __attribute__((unused))
#define WB_MUST_CHECK __attribute__((warn_unused_result))
#define WB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define WB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Wall-clock time in unix epoch milliseconds. */
int64_t util_now_ms(void);
/* Monotonic time in milliseconds, for timeouts and durations. */
int64_t util_mono_ms(void);
/* Monotonic time in microseconds. */
int64_t util_mono_us(void);

/* "2026-11-22T10:00:00.000Z" for an epoch-ms time; buf needs 25 bytes. */
#define UTIL_TIME_LEN 25
void util_format_time(int64_t ms, char *buf, size_t size);
/* Parses RFC 3339 ("2026-11-22T10:00:00Z", fractions and offsets allowed)
 * for times after the epoch up to the end of 9999, the range
 * util_format_time writes.  Returns 0 and sets *ms, or -1. */
#define UTIL_TIME_MAX_MS 253402300799999LL
int util_parse_time(const char *s, int64_t *ms) WB_MUST_CHECK;

/* A whole decimal number in [min, max] (min >= 0: command-line counts,
 * ports, seconds), or -1 when s is anything else. */
long util_parse_count(const char *s, long min, long max);

/* A random (version 4) UUID in canonical text form; buf needs 37 bytes. */
#define UTIL_UUID_LEN 37
void util_uuid4(char *buf);
/* 1 when s is a UUID in canonical 8-4-4-4-12 hex form (any case). */
int util_is_uuid(const char *s);

/* Standard base64 of len bytes; returns a malloc'd NUL-terminated string. */
char *util_base64(const void *data, size_t len);

/* snprintf that always terminates and never reports truncation as an
 * error: for error buffers.  The result is valid UTF-8 (utf8_repair), so it
 * can go into any JSON record or log line. */
void util_errf(char *errstr, size_t errstr_size, const char *fmt, ...) WB_PRINTF(3, 4);

#endif
