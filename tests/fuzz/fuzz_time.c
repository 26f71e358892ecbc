/*
 * fuzz_time: RFC 3339 times as records and the tools' --since/--until
 * read them: util_parse_time (bridge/util.c) and scan_parse_time
 * (bridge/scan.c, RFC 3339 or a duration before now).  Input: the text.
 * Properties: a time that parses to an instant util_format_time can write
 * (1970 to 9999) formats to text that parses back to the same instant,
 * and that text formats the same again (round trip); scan_parse_time
 * accepts whatever util_parse_time accepts, with the same value.
 */
#include "fuzz.h"
#include "scan.h"
#include "util.h"

/* 9999-12-31T23:59:59.999Z, the last instant with a four-digit year. */
#define LAST_FORMATTABLE_MS 253402300799999LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char errstr[512] = "";
    int64_t ms = 0, again = 0, scanned = 0;

    int parsed = util_parse_time(s, &ms) == 0;
    if (parsed && ms >= 0 && ms <= LAST_FORMATTABLE_MS) {
        char text[UTIL_TIME_LEN], text2[UTIL_TIME_LEN];
        util_format_time(ms, text, sizeof(text));
        FUZZ_CHECK(util_parse_time(text, &again) == 0);
        FUZZ_CHECK(again == ms);
        util_format_time(again, text2, sizeof(text2));
        FUZZ_CHECK(strcmp(text, text2) == 0);
    }
    if (scan_parse_time(s, &scanned, errstr, sizeof(errstr)) == 0) {
        FUZZ_CHECK(!parsed || scanned == ms);
    } else {
        FUZZ_CHECK(!parsed && errstr[0] != '\0');
    }
    free(s);
    return 0;
}
