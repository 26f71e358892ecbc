/*
 * fuzz: what the libFuzzer targets share: the entry point's prototype
 * (the build's -Wmissing-prototypes wants one), NUL-terminated copies of
 * the input, and splitting one input into several fields.  Each target
 * includes this header once; nothing here is part of the daemon.
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run on a broken property: libFuzzer reports it as a crash and
 * keeps the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

/* The input as a C string, malloc'd (exactly size bytes then a NUL, so a
 * read past the string is caught by ASan).  A NUL inside the input ends
 * the string early, as it would for a caller. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        abort();
    }
    if (size > 0) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

/* Splits the input at each sep byte into at most n fields, each a malloc'd
 * C string (missing fields are ""); the last field takes the rest, sep
 * bytes included.  lens gets each field's length.  Free with
 * fuzz_free_fields. */
static inline void fuzz_split(const uint8_t *data, size_t size, uint8_t sep, char **fields,
                              size_t *lens, size_t n)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t end = pos;
        if (i + 1 < n) {
            while (end < size && data[end] != sep) {
                end++;
            }
        } else {
            end = size;
        }
        size_t len = end > pos ? end - pos : 0;
        fields[i] = fuzz_cstr(data + pos, len);
        lens[i] = len;
        pos = end < size ? end + 1 : size;
    }
}

static inline void fuzz_free_fields(char **fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(fields[i]);
    }
}

#endif
