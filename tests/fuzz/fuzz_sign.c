/*
 * fuzz_sign: sign_verify (bridge/sign.c), the check `receive --secret`
 * makes on every request: the webhook-id, webhook-timestamp and
 * webhook-signature headers and the body all come from outside, and so
 * does the secret (the command line).  Input: newline-separated fields
 * secret, webhook-id, webhook-timestamp, webhook-signature, then the body
 * (the rest, any bytes).  Properties: no crash, leak or UB; a refusal says
 * why; and, when the secret decodes, the header sign_header writes for
 * this id, timestamp and body verifies (round trip), alone and after the
 * fuzzed header's entries.
 */
#include <inttypes.h>
#include <stdio.h>

#include "fuzz.h"
#include "sign.h"

#define NOW_S 1800000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[5];
    size_t lens[5];
    char errstr[512] = "";

    fuzz_split(data, size, '\n', f, lens, 5);
    char *secrets[1] = {f[0]};
    if (sign_verify(secrets, 1, f[1], f[2], f[3], f[4], lens[4], NOW_S, errstr, sizeof(errstr)) !=
        0) {
        FUZZ_CHECK(errstr[0] != '\0');
    }

    /* The same request signed by the bridge verifies. */
    char *header = sign_header(secrets, 1, f[1], NOW_S, f[4], lens[4], errstr, sizeof(errstr));
    if (header != NULL && f[1][0] != '\0') {
        char ts[24];
        snprintf(ts, sizeof(ts), "%" PRId64, (int64_t)NOW_S);
        FUZZ_CHECK(sign_verify(secrets, 1, f[1], ts, header, f[4], lens[4], NOW_S, errstr,
                               sizeof(errstr)) == 0);
        size_t n = lens[3] + 1 + strlen(header) + 1;
        char *both = malloc(n);
        FUZZ_CHECK(both != NULL);
        snprintf(both, n, "%s %s", f[3], header);
        FUZZ_CHECK(sign_verify(secrets, 1, f[1], ts, both, f[4], lens[4], NOW_S, errstr,
                               sizeof(errstr)) == 0);
        free(both);
    }
    free(header);
    fuzz_free_fields(f, 5);
    return 0;
}
