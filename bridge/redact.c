/*
 * redact: outside values made safe to log.  Keys and ids are escaped to
 * printable ASCII (a log reader's terminal never sees a raw control byte,
 * and a NUL byte is visible instead of ending the string).
 */
#include "redact.h"

#include <stdio.h>

void redact_bytes(const void *data, size_t len, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    size_t shown = len > REDACT_BYTES_SHOWN ? REDACT_BYTES_SHOWN : len;
    size_t o = 0;

    if (out_size == 0) {
        return;
    }
    for (size_t i = 0; i < shown; i++) {
        char esc[4];
        size_t n;
        if (p[i] == '\\') {
            esc[0] = '\\';
            esc[1] = '\\';
            n = 2;
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            esc[0] = (char)p[i];
            n = 1;
        } else {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[p[i] >> 4];
            esc[3] = hex[p[i] & 0x0f];
            n = 4;
        }
        if (o + n >= out_size) {
            break; /* never half an escape */
        }
        for (size_t k = 0; k < n; k++) {
            out[o++] = esc[k];
        }
    }
    out[o] = '\0';
    if (shown < len) {
        snprintf(out + o, out_size - o, "...(%zu bytes)", len);
    }
}
