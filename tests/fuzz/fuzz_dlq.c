/*
 * fuzz_dlq: cmd_dlq_record_parse and cmd_dlq_raw_event (bridge/cmd_dlq.c),
 * how `dlq list|show|stats|replay` read each record of the dead-letter
 * topic.  Input: the record's value bytes.  Properties: every record is
 * either read or reported unreadable with a reason (never skipped); what
 * the listing prints has no control byte and no NUL inside it (a record's
 * \u0000 or escape sequence cannot cut a line short or reach the
 * terminal); an invalid event's "raw" text comes back whole, NUL bytes
 * included, and "rawBase64" decodes to bytes that encode back to it.
 */
#include <jansson.h>

#include "cmd_dlq.h"
#include "fuzz.h"
#include "util.h"

static void check_printable(const char *s)
{
    FUZZ_CHECK(s != NULL && s[0] != '\0');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cmd_dlq_record r;

    if (cmd_dlq_record_parse(&r, data, size) == 0) {
        FUZZ_CHECK(json_is_object(r.rec));
    } else {
        FUZZ_CHECK(r.rec == NULL && r.why[0] != '\0');
    }
    check_printable(r.time);
    check_printable(r.reason);
    check_printable(r.event_type);
    check_printable(r.account_id);
    check_printable(r.endpoint_id);
    check_printable(r.delivery_id);
    check_printable(r.last);

    size_t len = 0;
    char *raw = cmd_dlq_raw_event(&r, &len);
    json_t *text = json_object_get(r.rec, "raw");
    json_t *b64 = json_object_get(r.rec, "rawBase64");
    if (json_is_string(text)) {
        FUZZ_CHECK(raw != NULL && len == json_string_length(text));
        FUZZ_CHECK(memcmp(raw, json_string_value(text), len) == 0);
    } else if (raw != NULL) {
        FUZZ_CHECK(json_is_string(b64));
        char *again = util_base64(raw, len);
        FUZZ_CHECK(strlen(again) == json_string_length(b64));
        free(again);
    }
    free(raw);
    cmd_dlq_record_deinit(&r);
    return 0;
}
