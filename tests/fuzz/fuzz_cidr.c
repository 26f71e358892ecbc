/*
 * fuzz_cidr: netguard_parse_cidr (bridge/netguard.c), the config file's
 * delivery.allow_networks entries.  Input: the text.  Properties: an
 * accepted range has a prefix within 0..128 (over the 16-byte form) and
 * no bit set beyond it; written back as IPv6 text and prefix (inet_ntop)
 * it parses to the same range (round trip).
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "fuzz.h"
#include "netguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char errstr[256] = "";
    struct netguard_cidr c, again;

    memset(&c, 0, sizeof(c));
    memset(&again, 0, sizeof(again));
    if (netguard_parse_cidr(s, &c, errstr, sizeof(errstr)) == 0) {
        FUZZ_CHECK(c.prefix >= 0 && c.prefix <= 128);
        for (int bit = c.prefix; bit < 128; bit++) {
            FUZZ_CHECK((c.addr[bit / 8] & (0x80 >> (bit % 8))) == 0);
        }
        char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
        FUZZ_CHECK(inet_ntop(AF_INET6, c.addr, addr, sizeof(addr)) != NULL);
        snprintf(text, sizeof(text), "%s/%d", addr, c.prefix);
        FUZZ_CHECK(netguard_parse_cidr(text, &again, errstr, sizeof(errstr)) == 0);
        FUZZ_CHECK(memcmp(&c, &again, sizeof(c)) == 0);
    } else {
        FUZZ_CHECK(errstr[0] != '\0');
    }
    free(s);
    return 0;
}
