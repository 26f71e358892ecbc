/*
 * fuzz_retry_after: schedule_retry_after (bridge/schedule.c), how every
 * Retry-After header of a 429 or 503 answer is read.  Input: the header's
 * value.  Properties: no overflow (UBSan: 2^63-1 seconds once overflowed
 * secs * 1000), and the answer is 0 (no wait) or a time after now and at
 * most SCHEDULE_RETRY_AFTER_MAX_MS later; delay-seconds give exactly
 * their value, saturated at that maximum.
 */
#include "fuzz.h"
#include "schedule.h"

#define NOW 1795000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fuzz_cstr(data, size);
    int64_t until = schedule_retry_after(value, NOW);
    FUZZ_CHECK(until == 0 || (until > NOW && until <= NOW + SCHEDULE_RETRY_AFTER_MAX_MS));
    /* Plain digits that fit: exactly that many seconds, up to the cap. */
    size_t n = strlen(value);
    int digits = n > 0 && n <= 9;
    for (size_t i = 0; i < n && digits; i++) {
        digits = value[i] >= '0' && value[i] <= '9';
    }
    if (digits) {
        int64_t ms = strtoll(value, NULL, 10) * 1000;
        if (ms > SCHEDULE_RETRY_AFTER_MAX_MS) {
            ms = SCHEDULE_RETRY_AFTER_MAX_MS;
        }
        FUZZ_CHECK(until == (ms > 0 ? NOW + ms : 0));
    }
    free(value);
    return 0;
}
