/*
 * fuzz_duration: duration_parse and duration_format (bridge/duration.c),
 * the config file's durations and the delay-topic names.  Input: the text.
 * Properties: what parses is within 0..100 days; its formatted form parses
 * back to the same value (round trip) and formatting is stable (format,
 * parse, format gives the same text).
 */
#include "duration.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char errstr[256] = "";
    int64_t ms = -1, again = -1;

    if (duration_parse(s, &ms, errstr, sizeof(errstr)) == 0) {
        FUZZ_CHECK(ms >= 0 && ms <= 100LL * 24 * 3600 * 1000);
        char text[64], text2[64];
        duration_format(ms, text, sizeof(text));
        FUZZ_CHECK(duration_parse(text, &again, errstr, sizeof(errstr)) == 0);
        FUZZ_CHECK(again == ms);
        duration_format(again, text2, sizeof(text2));
        FUZZ_CHECK(strcmp(text, text2) == 0);
    } else {
        FUZZ_CHECK(errstr[0] != '\0');
    }
    free(s);
    return 0;
}
