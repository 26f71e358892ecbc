/*
 * fuzz_utf8: bridge/utf8.c against jansson, the judge of what a JSON string
 * may hold.  Input: any bytes; the first byte picks a size limit.
 * Properties: utf8_valid agrees with json_stringn (a differential check:
 * the bridge's validity is jansson's); utf8_json always builds a string of
 * at most the limit, equal to the input when the input is valid and fits;
 * utf8_cut never cuts a valid character; utf8_repair leaves valid UTF-8
 * and never grows the string.
 */
#include <jansson.h>

#include "fuzz.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t max = data[0];
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    json_t *j = json_stringn(s, len);
    int valid = utf8_valid(s, len);
    FUZZ_CHECK(valid == (j != NULL));
    json_decref(j);

    json_t *v = utf8_json(s, len, max);
    FUZZ_CHECK(v != NULL && json_string_length(v) <= max);
    FUZZ_CHECK(utf8_valid(json_string_value(v), json_string_length(v)));
    if (valid && len <= max) {
        FUZZ_CHECK(json_string_length(v) == len && memcmp(json_string_value(v), s, len) == 0);
    }
    json_decref(v);

    size_t cut = utf8_cut(s, len, max);
    FUZZ_CHECK(cut <= len && cut <= max && (len <= max ? cut == len : 1));
    if (valid) {
        FUZZ_CHECK(utf8_valid(s, cut)); /* a valid text is never cut mid-character */
    }

    char *c = fuzz_cstr((const uint8_t *)s, len);
    size_t before = strlen(c);
    utf8_repair(c);
    FUZZ_CHECK(strlen(c) <= before && utf8_valid(c, strlen(c)));
    free(c);
    return 0;
}
