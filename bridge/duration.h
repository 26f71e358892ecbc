/*
 * duration: the config file's duration strings ("500ms", "30s", "5m",
 * "2h", "1h30m") and the shortest exact single-unit form used in delay-topic
 * names ("1m" for 60s, "90s", "500ms").  Pure functions.
 */
#ifndef BRIDGE_DURATION_H
#define BRIDGE_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Parses a non-negative duration made of one or more <integer><unit> parts
 * with units ms, s, m, h (e.g. "90s", "1h30m", "0s").  Returns 0 and sets
 * *ms, or -1 with the reason in errstr. */
int duration_parse(const char *s, int64_t *ms, char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Writes ms in its shortest exact form with one unit: 0 -> "0s",
 * 500 -> "500ms", 90000 -> "90s", 60000 -> "1m", 7200000 -> "2h". */
void duration_format(int64_t ms, char *buf, size_t size);

#endif
