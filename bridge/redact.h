/*
 * redact: what of an outside value may go into a log line or an error
 * message.  Records on the endpoints topic are written by another service
 * and are untrusted; their keys may hold any bytes and their URLs may carry
 * credentials (user:password@, ?token=...).  Every log line and every
 * logged error text that shows such a value takes it from here, so the rule
 * is written once.  Pure functions: any thread.
 */
#ifndef BRIDGE_REDACT_H
#define BRIDGE_REDACT_H

#include <stddef.h>

/* Input bytes shown by redact_bytes; more are cut and "...(N bytes)" said. */
#define REDACT_BYTES_SHOWN 64
/* Room for redact_bytes' output: 4 characters per byte shown, the marker. */
#define REDACT_BYTES_LEN (4 * REDACT_BYTES_SHOWN + 32)

/* len bytes (any, NUL included) as printable ASCII: printable ASCII is kept,
 * a backslash is written "\\", every other byte "\xNN"; at most
 * REDACT_BYTES_SHOWN bytes, then "...(N bytes)".  out needs
 * REDACT_BYTES_LEN bytes to hold every case; it is always terminated. */
void redact_bytes(const void *data, size_t len, char *out, size_t out_size);

#endif
