/*
 * jsonscan: a validating JSON scanner that builds nothing.  It says whether
 * jansson's json_loadb(data, len, JSON_DECODE_ANY) would accept the bytes,
 * and decodes the few string members a caller asks for (root.key or
 * root.key.subkey) into the caller's buffers.  It is the hot path of event
 * validation (event.c): every record of the events topic goes through it,
 * where a jansson document cost 20-30 us per 1.5 KB event.
 *
 * "Exactly what jansson 2.14 accepts" includes its quirks: duplicate keys
 * are accepted and the last one counts (json_object_get sees the last);
 * \u0000 is refused in keys and values; one NUL byte right after a number
 * or a true/false/null is skipped (jansson's lexer puts the byte back and
 * then reads past it); integers must fit int64_t and reals must not
 * overflow a double; nesting is limited to 2048 levels; every byte >= 0x80
 * must be well-formed UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF).  tests/fuzz/fuzz_jsonscan.c holds it to jansson's
 * answers, byte for byte; any difference is a bug here.
 *
 * Pure and reentrant: any thread.  Numbers are read with strtod in the C
 * locale (the bridge never calls setlocale).
 */
#ifndef BRIDGE_JSONSCAN_H
#define BRIDGE_JSONSCAN_H

#include <stddef.h>

#include "util.h"

enum jsonscan_type {
    JSONSCAN_MISSING = 0,
    JSONSCAN_OBJECT,
    JSONSCAN_ARRAY,
    JSONSCAN_STRING,
    JSONSCAN_NUMBER,
    JSONSCAN_BOOL,
    JSONSCAN_NULL,
};

/* The largest nesting jansson parses (JSON_PARSER_MAX_DEPTH in 2.14). */
#define JSONSCAN_MAX_DEPTH 2048

/* At most this many fields per scan. */
#define JSONSCAN_MAX_FIELDS 16

/* One member to report.  In: key (a member of the root object) and subkey
 * (NULL, or a member of root[key]); buf/cap where a string value is
 * decoded, NUL-terminated (cap >= 1).  Paths must be distinct.
 * Out: type (MISSING when absent, or when root[key] is not an object for a
 * subkey) and, for a string, len: its decoded length, which may exceed
 * cap - 1 (then buf holds the first cap - 1 bytes).  For any other type
 * buf is "" and len 0. */
struct jsonscan_field {
    const char *key;
    const char *subkey;
    char *buf;
    size_t cap;
    enum jsonscan_type type;
    size_t len;
};

/* Scans len bytes of data.  Returns 0 when jansson would accept them
 * (*root_type says what the root is, fields are filled), or -1 when it
 * would refuse them (fields are then unspecified).  nfields is at most
 * JSONSCAN_MAX_FIELDS. */
int jsonscan(const void *data, size_t len, enum jsonscan_type *root_type,
             struct jsonscan_field *fields, size_t nfields) WB_MUST_CHECK;

#endif
