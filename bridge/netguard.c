/*
 * netguard: address classes as CIDR ranges over one 16-byte form (IPv4 as
 * ::ffff:a.b.c.d), looked up linearly: a dozen ranges, once per new
 * connection.  Read-only after netguard_new; no locks.
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
};

/* Forms of IPv6 address that carry an IPv4 address in their last 4 bytes. */
static const uint8_t nat64_prefix[12] = {0x00, 0x64, 0xff, 0x9b}; /* 64:ff9b::/96 */
static const uint8_t compat_prefix[12] = {0};                     /* ::/96 (deprecated) */
static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

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

/* The IPv4 address an IPv6 one carries (NAT64, IPv4-compatible), in mapped
 * form; 0 when it carries one. */
static int embedded_v4(const uint8_t addr[16], uint8_t out[16])
{
    int compat = memcmp(addr, compat_prefix, 12) == 0;
    if (compat) {
        /* ::/128 and ::1/128 are IPv6 addresses of their own. */
        static const uint8_t zero3[3] = {0};
        if (memcmp(addr + 12, zero3, 3) == 0 && addr[15] <= 1) {
            return -1;
        }
    }
    if (!compat && memcmp(addr, nat64_prefix, 12) != 0) {
        return -1;
    }
    memcpy(out, mapped_prefix, 12);
    memcpy(out + 12, addr + 12, 4);
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

const char *netguard_classify(const struct sockaddr *sa)
{
    uint8_t addr[16], v4[16];
    if (to_bytes(sa, addr) != 0) {
        return "not an IP address";
    }
    const char *cls = classify_bytes(addr);
    if (cls == NULL && embedded_v4(addr, v4) == 0) {
        cls = classify_bytes(v4);
    }
    return cls;
}

static int allowed(const struct netguard *g, const uint8_t addr[16])
{
    for (size_t i = 0; i < g->n_allow; i++) {
        if (in_cidr(addr, &g->allow[i])) {
            return 1;
        }
    }
    return 0;
}

const char *netguard_check(const struct netguard *g, const struct sockaddr *sa)
{
    uint8_t addr[16], v4[16];
    if (g == NULL || g->allow_all) {
        return NULL;
    }
    if (to_bytes(sa, addr) != 0) {
        return "not an IP address";
    }
    int has_v4 = embedded_v4(addr, v4) == 0;
    if (allowed(g, addr) || (has_v4 && allowed(g, v4))) {
        return NULL;
    }
    return netguard_classify(sa);
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
