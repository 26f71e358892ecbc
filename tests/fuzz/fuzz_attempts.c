/*
 * fuzz_attempts: cmd_attempts_record_parse (bridge/cmd_attempts.c), how
 * `attempts EVENT_ID` reads each record of the attempts topic.  Input: the
 * record's value bytes.  Properties: every record is read or reported
 * unreadable with a reason; what the table prints (endpoint, URL, time,
 * result, the response's first bytes) has no control byte and no NUL
 * inside it; the response shown is at most CMD_ATTEMPTS_SHOWN bytes of a
 * response whose whole length is kept (a \u0000 inside it does not
 * shorten it).
 */
#include <jansson.h>

#include "cmd_attempts.h"
#include "fuzz.h"

static void check_printable(const char *s)
{
    FUZZ_CHECK(s != NULL);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cmd_attempts_record r;

    if (cmd_attempts_record_parse(&r, data, size) == 0) {
        FUZZ_CHECK(json_is_object(r.rec));
    } else {
        FUZZ_CHECK(r.rec == NULL && r.why[0] != '\0');
    }
    check_printable(r.endpoint_id);
    check_printable(r.endpoint_url);
    check_printable(r.at);
    check_printable(r.result);
    if (r.response != NULL) {
        json_t *resp = json_object_get(r.rec, "response");
        check_printable(r.response);
        FUZZ_CHECK(r.response_len == json_string_length(resp));
        size_t shown = strlen(r.response);
        FUZZ_CHECK(shown <= CMD_ATTEMPTS_SHOWN && shown <= r.response_len);
        FUZZ_CHECK(shown == r.response_len || r.response_len > CMD_ATTEMPTS_SHOWN - 4);
    }
    cmd_attempts_record_deinit(&r);
    return 0;
}
