/*
 * redact: what of an outside value may go into a log line or an error
 * message.  Records on the endpoints topic are written by another service
 * and are untrusted; their keys may hold any bytes and their URLs may carry
 * credentials (user:password@, ?token=...).  Every log line and every
 * logged error text that shows such a value takes it from here, so the rule
 * is written once.  Pure functions: any thread (libcurl's URL API is
 * thread-safe once curl_global_init has run).
 */
#ifndef BRIDGE_REDACT_H
#define BRIDGE_REDACT_H

#include <stddef.h>

#include <jansson.h>

/* Input bytes shown by redact_bytes; more are cut and "...(N bytes)" said. */
#define REDACT_BYTES_SHOWN 64
/* Room for redact_bytes' output: 4 characters per byte shown, the marker. */
#define REDACT_BYTES_LEN (4 * REDACT_BYTES_SHOWN + 32)

/* len bytes (any, NUL included) as printable ASCII: printable ASCII is kept,
 * a backslash is written "\\", every other byte "\xNN"; at most
 * REDACT_BYTES_SHOWN bytes, then "...(N bytes)".  out needs
 * REDACT_BYTES_LEN bytes to hold every case; it is always terminated. */
void redact_bytes(const void *data, size_t len, char *out, size_t out_size);

/* Room for redact_url's output; longer URLs are cut and end in "...". */
#define REDACT_URL_LEN 256
/* What is shown for a URL libcurl cannot parse. */
#define REDACT_URL_UNPARSABLE "(unparsable URL)"

/* The URL as a log line may show it: scheme, host, port (when given) and
 * path, as libcurl's URL API parses them; never the user name or password,
 * the query string or the fragment, which may carry credentials
 * (https://user:pw@host/p?token=...#...  ->  "https://host/p").  Bytes that
 * are not printable ASCII are %XX-escaped, so the result is always ASCII.
 * A URL libcurl cannot parse gives REDACT_URL_UNPARSABLE.  out needs
 * REDACT_URL_LEN bytes; it is always terminated. */
void redact_url(const char *url, char *out, size_t out_size);

/* What kind of error jansson found in a document, in words that hold none
 * of its bytes: jerr->text ends with "near '<the bytes there>'", which can
 * be a secret or a payload.  Callers add jerr's line, column or position. */
const char *redact_json_error(const json_error_t *jerr);

#endif
