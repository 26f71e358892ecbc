/*
 * jsonw: writes the bridge's own records (delay and dead-letter records,
 * attempt records) as JSON text straight into one growable buffer, without
 * building a jansson document first.  Building the document and dumping it
 * was most of what parking a delivery or logging an attempt cost (see
 * `BENCH_RUNS=records make bench`).
 *
 * The text is what jansson's json_dumps(JSON_COMPACT) writes for the same
 * values, byte for byte: strings escaped as jansson escapes them ("\"",
 * "\\", \b \f \n \r \t, other control characters as \u00XX in upper-case
 * hex; "/", DEL and non-ASCII kept as they are), integers in decimal.  A
 * string must be valid UTF-8 without NUL, as json_string demands, or the
 * writer fails (jsonw_finish returns NULL), as json_pack would have; the
 * repaired variant cuts and repairs outside text as utf8_json does.
 * tests/fuzz/fuzz_delivery.c and tests/unit/test_delivery.c hold it to
 * jansson's answers.
 *
 * Keys are the caller's literals, written unescaped.  Commas are placed by
 * the writer.  Pure; a struct jsonw belongs to the thread using it.
 */
#ifndef BRIDGE_JSONW_H
#define BRIDGE_JSONW_H

#include <stddef.h>
#include <stdint.h>

#define JSONW_DEPTH 8 /* nesting the writer tracks; the records need 3 */

struct jsonw {
    char *buf;
    size_t len, cap;
    int depth;
    unsigned first; /* bit d: nothing written yet in the container at depth d */
    unsigned array; /* bit d: the container at depth d is an array */
    int failed;     /* a value could not be written: jsonw_finish returns NULL */
};

/* Starts an empty text with room for about hint bytes. */
void jsonw_init(struct jsonw *w, size_t hint);

void jsonw_object(struct jsonw *w); /* '{' */
void jsonw_array(struct jsonw *w);  /* '[' */
void jsonw_close(struct jsonw *w);  /* '}' or ']', closing the innermost */

/* The next member's key (a literal of ours: ASCII, nothing to escape). */
void jsonw_key(struct jsonw *w, const char *key);

/* Values. */
void jsonw_null(struct jsonw *w);
void jsonw_int(struct jsonw *w, int64_t v);
/* A string, or null for NULL.  Invalid UTF-8 fails the text. */
void jsonw_str(struct jsonw *w, const char *s);
/* len bytes of valid UTF-8 (NUL bytes allowed, written as \u0000), as
 * json_stringn takes them; invalid UTF-8 fails the text. */
void jsonw_strn(struct jsonw *w, const char *s, size_t len);
/* At most max bytes of s (NUL-terminated), or null for NULL: cut on a
 * character boundary, each invalid byte replaced by U+FFFD (utf8_json). */
void jsonw_str_repaired(struct jsonw *w, const char *s, size_t max);
/* An epoch-ms time as RFC 3339 text, or null for ms <= 0. */
void jsonw_time(struct jsonw *w, int64_t ms);
/* len bytes already JSON, written as they are (the event, spliced in). */
void jsonw_raw(struct jsonw *w, const void *json, size_t len);

/* The text (malloc'd, NUL-terminated; *lenp its length), or NULL when a
 * value could not be written.  The writer is left empty either way. */
char *jsonw_finish(struct jsonw *w, size_t *lenp);

#endif
