/*
 * utf8: the one place that decides what text may go into a JSON record or a
 * log line.  Every text that comes from outside (jansson's parse context, a
 * libcurl error, an answer's body, a record's key) or is cut to a size passes
 * through here: it is cut only on a character boundary and its invalid bytes
 * are replaced, so jansson never refuses a string we hand it.  Validity is
 * jansson's own (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF); tests/fuzz/fuzz_utf8.c holds the two to the same answers.
 * Pure functions, safe from any thread.
 */
#ifndef BRIDGE_UTF8_H
#define BRIDGE_UTF8_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

/* 1 when the len bytes at s are valid UTF-8 (NUL bytes included). */
int utf8_valid(const char *s, size_t len);

/* The largest n <= max such that s[0..n) does not end inside a multi-byte
 * character of s (len bytes).  n == len when len <= max. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Repairs a NUL-terminated string in place: each byte that does not start a
 * valid character becomes '?', and a character cut by the end of the string
 * is dropped.  Never grows the string.  For error and log texts. */
void utf8_repair(char *s);

/* A JSON string of at most max bytes of s (len bytes): cut on a character
 * boundary, invalid bytes replaced by U+FFFD.  NUL bytes are kept (jansson
 * writes them as \u0000).  Never NULL (aborts on out-of-memory only). */
json_t *utf8_json(const char *s, size_t len, size_t max);

/* utf8_json of a NUL-terminated string, or JSON null for NULL. */
json_t *utf8_json_or_null(const char *s, size_t max);

#endif
