/*
 * duration: parsing and formatting of durations.  Pure functions, safe from
 * any thread.
 */
#include "duration.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Longest duration accepted: 100 days is far beyond any retry window. */
#define DURATION_MAX_MS (100LL * 24 * 3600 * 1000)

int duration_parse(const char *s, int64_t *ms, char *errstr, size_t errstr_size)
{
    const char *p = s;
    int64_t total = 0;

    if (*p == '\0') {
        util_errf(errstr, errstr_size, "empty duration (expected e.g. \"500ms\", \"30s\", \"5m\")");
        return -1;
    }
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p)) {
            util_errf(errstr, errstr_size,
                      "\"%s\" is not a duration (expected a number and a unit: ms, s, m, h, "
                      "e.g. \"30s\")",
                      s);
            return -1;
        }
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p - '0');
            if (n > DURATION_MAX_MS) {
                util_errf(errstr, errstr_size, "duration \"%s\" is too long (at most 100 days)", s);
                return -1;
            }
            p++;
        }
        int64_t unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            unit = 3600 * 1000;
            p++;
        } else {
            util_errf(errstr, errstr_size,
                      "duration \"%s\" has %s unit (expected ms, s, m or h, e.g. \"30s\")", s,
                      *p == '\0' ? "no" : "an unknown");
            return -1;
        }
        total += n * unit;
        if (total > DURATION_MAX_MS) {
            util_errf(errstr, errstr_size, "duration \"%s\" is too long (at most 100 days)", s);
            return -1;
        }
    }
    *ms = total;
    return 0;
}

void duration_format(int64_t ms, char *buf, size_t size)
{
    if (ms == 0) {
        snprintf(buf, size, "0s");
    } else if (ms % (3600 * 1000) == 0) {
        snprintf(buf, size, "%" PRId64 "h", ms / (3600 * 1000));
    } else if (ms % (60 * 1000) == 0) {
        snprintf(buf, size, "%" PRId64 "m", ms / (60 * 1000));
    } else if (ms % 1000 == 0) {
        snprintf(buf, size, "%" PRId64 "s", ms / 1000);
    } else {
        snprintf(buf, size, "%" PRId64 "ms", ms);
    }
}
