/*
 * netguard: address classes as CIDR ranges over one 16-byte form (IPv4 as
 * ::ffff:a.b.c.d), looked up linearly: a few dozen ranges, once per new
 * connection.  Read-only after netguard_new; no locks.
 *
 * IPv6 forms that lead to an IPv4 address.  The rule: where the IPv4
 * address sits at a fixed place, it is taken out and checked like any IPv4
 * address (the allow list included); where it does not, the whole range is
 * refused as a class of its own.
 *   - IPv4-mapped ::ffff:0:0/96: in the table directly (the 16-byte form).
 *   - IPv4-compatible ::/96 (deprecated), NAT64 well-known 64:ff9b::/96
 *     (RFC 6052) and IPv4-translated ::ffff:0:0:0/96 (SIIT, RFC 2765):
 *     the last 4 bytes.
 *   - 6to4 2002::/16 (RFC 3056): bytes 2..5; the tunnel's far end is that
 *     IPv4 host.
 *   - Teredo 2001::/32 (RFC 4380): the client, last 4 bytes XOR 0xff, and
 *     the Teredo server, bytes 4..7; a Teredo client on this host sends to
 *     both (a direct and an indirect bubble), so both are checked.
 *   - Local-use NAT64 64:ff9b:1::/48 (RFC 8215): refused.  The operator
 *     picks a prefix of 32 to 96 bits inside it and RFC 6052 places the IPv4
 *     address differently for each, so no byte offset is reliable.
 * Ranges that are not the public Internet and embed nothing are refused by
 * class: discard-only 100::/64 (RFC 6666), documentation 2001:db8::/32.
 * An address in the allow list is let through whatever its form, and so is
 * one whose every internal embedded IPv4 address is in the allow list.
 */
#include "netguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct netguard {
    bool allow_all;
    struct netguard_cidr *allow;
    size_t n_allow;
};

struct range {
    const char *cidr;
    const char *class;
};

/* The internal ranges.  IPv4 ones also catch their IPv4-mapped form. */
static const struct range internal[] = {
    {"0.0.0.0/8", "unspecified"},
    {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "shared address space (CGNAT)"},
    {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},
    {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},
    {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "reserved"},
    {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"}, /* 255.255.255.255 (broadcast) included */
    {"::/128", "unspecified"},
    {"::1/128", "loopback"},
    {"fc00::/7", "private"},
    {"fe80::/10", "link-local"},
    {"fec0::/10", "private"},
    {"ff00::/8", "multicast"},
    {"100::/64", "discard-only"},
    {"2001:db8::/32", "documentation"},
    {"64:ff9b:1::/48", "local-use NAT64"},
};

/* Forms of IPv6 address that carry an IPv4 address in their last 4 bytes. */
static const uint8_t nat64_prefix[12] = {0x00, 0x64, 0xff, 0x9b}; /* 64:ff9b::/96 */
static const uint8_t compat_prefix[12] = {0};                     /* ::/96 (deprecated) */
static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t translated_prefix[12] = {[8] = 0xff, [9] = 0xff}; /* ::ffff:0:0:0/96 */
/* And those that carry it elsewhere. */
static const uint8_t sixtofour_prefix[2] = {0x20, 0x02};          /* 2002::/16 */
static const uint8_t teredo_prefix[4] = {0x20, 0x01, 0x00, 0x00}; /* 2001::/32 */

/* Most IPv4 addresses one IPv6 address carries (Teredo: server and client). */
#define MAX_EMBEDDED 2

static struct netguard_cidr internal_cidrs[WB_ARRAY_LEN(internal)]; /* same order */
static pthread_once_t internal_once = PTHREAD_ONCE_INIT;

static int in_cidr(const uint8_t addr[16], const struct netguard_cidr *c)
{
    int full = c->prefix / 8;
    int rest = c->prefix % 8;
    if (memcmp(addr, c->addr, (size_t)full) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (c->addr[full] & mask);
}

int netguard_parse_cidr(const char *text, struct netguard_cidr *out, char *errstr,
                        size_t errstr_size)
{
    char buf[64];
    const char *slash = strchr(text, '/');
    size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    int max = 0;

    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(buf)) {
        goto bad;
    }
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memcpy(out->addr, mapped_prefix, 12);
        memcpy(out->addr + 12, &a4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, buf, &a6) == 1) {
        memcpy(out->addr, &a6, 16);
        max = 128;
    } else {
        goto bad;
    }
    int prefix = max;
    if (slash != NULL) {
        char *end = NULL;
        errno = 0;
        long p = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno != 0 || p < 0 || p > max) {
            util_errf(errstr, errstr_size,
                      "\"%s\" has a bad prefix length (expected /0 to /%d after the address)", text,
                      max);
            return -1;
        }
        prefix = (int)p;
    }
    out->prefix = prefix + (max == 32 ? 96 : 0);
    /* Every bit beyond the prefix must be zero. */
    for (int bit = out->prefix; bit < 128; bit++) {
        if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
            util_errf(errstr, errstr_size,
                      "\"%s\" has address bits set beyond its prefix (expected the network "
                      "address, e.g. 10.20.0.0/16)",
                      text);
            return -1;
        }
    }
    return 0;
bad:
    util_errf(errstr, errstr_size,
              "\"%s\" is not a CIDR range (expected an IPv4 or IPv6 network such as "
              "\"10.20.0.0/16\" or \"fd00:1::/64\")",
              text);
    return -1;
}

/* The table, parsed on first use; it is constant, so a parse error is a
 * bug caught by the unit tests. */
static void parse_internal(void)
{
    char err[128];
    for (size_t i = 0; i < WB_ARRAY_LEN(internal); i++) {
        if (netguard_parse_cidr(internal[i].cidr, &internal_cidrs[i], err, sizeof(err)) != 0) {
            abort();
        }
    }
}

/* The 16-byte form of sa; 0, or -1 for a family that is not IP. */
static int to_bytes(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(out, mapped_prefix, 12);
        memcpy(out + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(out, &in6->sin6_addr, 16);
        return 0;
    }
    return -1;
}

/* The mapped form of the IPv4 address in v4[0..3]. */
static void set_mapped(uint8_t out[16], const uint8_t v4[4])
{
    memcpy(out, mapped_prefix, 12);
    memcpy(out + 12, v4, 4);
}

/* The IPv4 addresses an IPv6 one carries (see the top of the file), each
 * in mapped form; how many (0 to MAX_EMBEDDED). */
static size_t embedded_v4(const uint8_t addr[16], uint8_t out[MAX_EMBEDDED][16])
{
    if (memcmp(addr, compat_prefix, 12) == 0) {
        /* ::/128 and ::1/128 are IPv6 addresses of their own. */
        static const uint8_t zero3[3] = {0};
        if (memcmp(addr + 12, zero3, 3) == 0 && addr[15] <= 1) {
            return 0;
        }
        set_mapped(out[0], addr + 12);
        return 1;
    }
    if (memcmp(addr, nat64_prefix, 12) == 0 || memcmp(addr, translated_prefix, 12) == 0) {
        set_mapped(out[0], addr + 12);
        return 1;
    }
    if (memcmp(addr, sixtofour_prefix, sizeof(sixtofour_prefix)) == 0) {
        set_mapped(out[0], addr + 2);
        return 1;
    }
    if (memcmp(addr, teredo_prefix, sizeof(teredo_prefix)) == 0) {
        uint8_t client[4];
        for (int i = 0; i < 4; i++) {
            client[i] = (uint8_t)(addr[12 + i] ^ 0xff);
        }
        set_mapped(out[0], client);
        set_mapped(out[1], addr + 4);
        return 2;
    }
    return 0;
}

static const char *classify_bytes(const uint8_t addr[16])
{
    pthread_once(&internal_once, parse_internal);
    for (size_t i = 0; i < WB_ARRAY_LEN(internal); i++) {
        if (in_cidr(addr, &internal_cidrs[i])) {
            return internal[i].class;
        }
    }
    return NULL;
}

static int allowed(const struct netguard *g, const uint8_t addr[16])
{
    for (size_t i = 0; g != NULL && i < g->n_allow; i++) {
        if (in_cidr(addr, &g->allow[i])) {
            return 1;
        }
    }
    return 0;
}

/* NULL when addr may be connected to under g's allow list (none when g is
 * NULL); otherwise the class of the address or of an IPv4 address it
 * carries. */
static const char *check_bytes(const struct netguard *g, const uint8_t addr[16])
{
    uint8_t v4[MAX_EMBEDDED][16];

    if (allowed(g, addr)) {
        return NULL;
    }
    const char *cls = classify_bytes(addr);
    if (cls != NULL) {
        return cls;
    }
    size_t n = embedded_v4(addr, v4);
    for (size_t i = 0; i < n; i++) {
        if (allowed(g, v4[i])) {
            continue;
        }
        cls = classify_bytes(v4[i]);
        if (cls != NULL) {
            return cls;
        }
    }
    return NULL;
}

const char *netguard_classify(const struct sockaddr *sa)
{
    uint8_t addr[16];
    if (to_bytes(sa, addr) != 0) {
        return "not an IP address";
    }
    return check_bytes(NULL, addr);
}

const char *netguard_check(const struct netguard *g, const struct sockaddr *sa)
{
    uint8_t addr[16];
    if (g == NULL || g->allow_all) {
        return NULL;
    }
    if (to_bytes(sa, addr) != 0) {
        return "not an IP address";
    }
    return check_bytes(g, addr);
}

struct netguard *netguard_new(bool allow_all, char *const *allow, size_t n_allow, char *errstr,
                              size_t errstr_size)
{
    struct netguard *g = xcalloc(1, sizeof(*g));
    g->allow_all = allow_all;
    g->allow = xcalloc(n_allow > 0 ? n_allow : 1, sizeof(*g->allow));
    for (size_t i = 0; i < n_allow; i++) {
        if (netguard_parse_cidr(allow[i], &g->allow[i], errstr, errstr_size) != 0) {
            netguard_destroy(g);
            return NULL;
        }
    }
    g->n_allow = n_allow;
    return g;
}

void netguard_destroy(struct netguard *g)
{
    if (g == NULL) {
        return;
    }
    free(g->allow);
    free(g);
}
