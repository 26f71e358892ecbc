/*
 * test_netguard: every internal address class the SSRF guard must refuse,
 * in IPv4, IPv6, and the IPv6 forms that carry an IPv4 address; public
 * addresses it must let through; the allow list; CIDR parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netguard.h"

/* A sockaddr for a textual IPv4 or IPv6 address. */
static const struct sockaddr *sa_of(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
    } else {
        fail_msg("bad test address %s", text);
    }
    return (const struct sockaddr *)ss;
}

struct class_case {
    const char *addr;
    const char *class; /* NULL: public */
};

static const struct class_case cases[] = {
    /* loopback */
    {"127.0.0.1", "loopback"},
    {"127.255.255.254", "loopback"},
    {"::1", "loopback"},
    {"::ffff:127.0.0.1", "loopback"},
    /* private: RFC 1918 and RFC 4193 (and the old site-local) */
    {"10.0.0.1", "private"},
    {"10.255.255.255", "private"},
    {"172.16.0.1", "private"},
    {"172.31.255.254", "private"},
    {"192.168.1.1", "private"},
    {"fd12:3456:789a::1", "private"},
    {"fc00::1", "private"},
    {"fec0::1", "private"},
    {"::ffff:10.1.2.3", "private"},
    {"::ffff:192.168.0.10", "private"},
    /* link-local, the cloud metadata address among them */
    {"169.254.169.254", "link-local"},
    {"169.254.0.1", "link-local"},
    {"fe80::1", "link-local"},
    {"febf::1", "link-local"},
    {"::ffff:169.254.169.254", "link-local"},
    /* shared address space (CGNAT) */
    {"100.64.0.1", "shared address space (CGNAT)"},
    {"100.127.255.254", "shared address space (CGNAT)"},
    /* multicast */
    {"224.0.0.1", "multicast"},
    {"239.255.255.250", "multicast"},
    {"ff02::1", "multicast"},
    {"::ffff:224.0.0.251", "multicast"},
    /* unspecified */
    {"0.0.0.0", "unspecified"},
    {"0.1.2.3", "unspecified"},
    {"::", "unspecified"},
    {"::ffff:0.0.0.0", "unspecified"},
    /* reserved, broadcast */
    {"255.255.255.255", "reserved"},
    {"240.0.0.1", "reserved"},
    {"198.18.0.1", "reserved"},
    {"192.0.0.8", "reserved"},
    /* IPv4 carried in NAT64 and IPv4-compatible IPv6 addresses */
    {"64:ff9b::7f00:1", "loopback"},
    {"64:ff9b::a9fe:a9fe", "link-local"},
    {"::7f00:1", "loopback"},
    {"::a00:1", "private"},
    /* IPv4-translated ::ffff:0:0:0/96 (SIIT): the last 4 bytes */
    {"::ffff:0:7f00:1", "loopback"},
    {"::ffff:0:a9fe:a9fe", "link-local"},
    {"::ffff:0:c0a8:1", "private"},
    {"::ffff:0:0:0", "unspecified"},
    /* 6to4 2002::/16: bytes 2..5, whatever follows */
    {"2002:7f00:1::", "loopback"},
    {"2002:7f00:1:1234::1", "loopback"},
    {"2002:a9fe:a9fe::1", "link-local"},
    {"2002:a00:1::", "private"},
    {"2002:c0a8:101::1", "private"},
    {"2002:6440:1::", "shared address space (CGNAT)"},
    {"2002::", "unspecified"},
    /* Teredo 2001::/32: client = last 4 bytes XOR 0xff, server = bytes 4..7 */
    {"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"},   /* client 127.0.0.1 */
    {"2001:0:4136:e378:8000:63bf:5601:5601", "link-local"}, /* client 169.254.169.254 */
    {"2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"},    /* client 10.0.0.1 */
    {"2001:0:a00:1:8000:63bf:f7f7:f7f7", "private"},        /* server 10.0.0.1 */
    {"2001:0:7f00:1:8000:63bf:f7f7:f7f7", "loopback"},      /* server 127.0.0.1 */
    /* local-use NAT64: no fixed place for the IPv4 address, all refused */
    {"64:ff9b:1::7f00:1", "local-use NAT64"},
    {"64:ff9b:1::808:808", "local-use NAT64"},
    {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64"},
    /* discard-only, documentation */
    {"100::", "discard-only"},
    {"100::ffff:ffff:ffff:ffff", "discard-only"},
    {"2001:db8::1", "documentation"},
    {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"},
    /* public */
    {"8.8.8.8", NULL},
    {"1.1.1.1", NULL},
    {"100.63.255.255", NULL},
    {"100.128.0.0", NULL},
    {"172.15.255.255", NULL},
    {"172.32.0.0", NULL},
    {"169.253.255.255", NULL},
    {"192.169.0.1", NULL},
    {"11.0.0.1", NULL},
    {"223.255.255.255", NULL},
    {"2001:4860:4860::8888", NULL},
    {"2606:4700:4700::1111", NULL},
    {"::ffff:8.8.8.8", NULL},
    {"64:ff9b::808:808", NULL},
    {"2606:4700::1111", NULL},
    /* next to the refused ranges, and their public IPv4 forms */
    {"::ffff:0:808:808", NULL},                     /* IPv4-translated 8.8.8.8 */
    {"2002:808:808::1", NULL},                      /* 6to4 8.8.8.8 */
    {"2002:c000:201::", NULL},                      /* 6to4 192.0.2.1 */
    {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", NULL}, /* Teredo 65.54.227.120 / 8.8.8.8 */
    {"64:ff9b:2::", NULL},                          /* past 64:ff9b:1::/48 */
    {"64:ff9b:0:ffff::", NULL},                     /* before it, outside 64:ff9b::/96 */
    {"100:0:0:1::", NULL},                          /* past 100::/64 */
    {"2001:db9::1", NULL},                          /* past 2001:db8::/32 */
    {"2001:1::1", NULL},                            /* past 2001::/32 */
    {"2003::1", NULL},                              /* past 2002::/16 */
};

static void test_classes(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    struct netguard *g = netguard_new(false, NULL, 0, err, sizeof(err));
    assert_non_null(g);
    int wrong = 0;
    /* Every wrong case is reported, not only the first. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = netguard_check(g, sa_of(cases[i].addr, &ss));
        if ((got == NULL) != (cases[i].class == NULL) ||
            (got != NULL && strcmp(got, cases[i].class) != 0)) {
            print_error("%s: got %s, expected %s\n", cases[i].addr, got ? got : "allowed",
                        cases[i].class ? cases[i].class : "allowed");
            wrong++;
            continue;
        }
        assert_true(netguard_classify(sa_of(cases[i].addr, &ss)) == got ||
                    strcmp(netguard_classify(sa_of(cases[i].addr, &ss)), got) == 0);
    }
    netguard_destroy(g);
    assert_int_equal(wrong, 0);
}

/* allow_private_networks = true, or no guard at all: everything goes. */
static void test_allow_all(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    struct netguard *g = netguard_new(true, NULL, 0, err, sizeof(err));
    assert_non_null(g);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_null(netguard_check(g, sa_of(cases[i].addr, &ss)));
        assert_null(netguard_check(NULL, sa_of(cases[i].addr, &ss)));
    }
    netguard_destroy(g);
}

/* Named ranges go through; the rest of each class stays blocked. */
static void test_allow_list(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    char *allow[] = {(char *)"10.20.0.0/16", (char *)"fd00:1::/64", (char *)"127.0.0.2"};
    struct netguard *g = netguard_new(false, allow, 3, err, sizeof(err));
    assert_non_null(g);
    assert_null(netguard_check(g, sa_of("10.20.3.4", &ss)));
    assert_null(netguard_check(g, sa_of("::ffff:10.20.3.4", &ss)));
    assert_null(netguard_check(g, sa_of("fd00:1::42", &ss)));
    assert_null(netguard_check(g, sa_of("127.0.0.2", &ss)));
    assert_string_equal(netguard_check(g, sa_of("10.21.0.1", &ss)), "private");
    assert_string_equal(netguard_check(g, sa_of("fd00:2::42", &ss)), "private");
    assert_string_equal(netguard_check(g, sa_of("127.0.0.1", &ss)), "loopback");
    assert_string_equal(netguard_check(g, sa_of("169.254.169.254", &ss)), "link-local");
    assert_null(netguard_check(g, sa_of("8.8.8.8", &ss)));
    netguard_destroy(g);
}

/* netguard_check(g, addr) gives cls (NULL: allowed); with g NULL,
 * netguard_classify(addr) does. */
static void expect(const struct netguard *g, const char *addr, const char *cls)
{
    struct sockaddr_storage ss;
    const char *got =
        g != NULL ? netguard_check(g, sa_of(addr, &ss)) : netguard_classify(sa_of(addr, &ss));
    int same = got == NULL ? cls == NULL : cls != NULL && strcmp(got, cls) == 0;
    if (!same) {
        fail_msg("%s: got %s, expected %s", addr, got ? got : "allowed", cls ? cls : "allowed");
    }
}

/* The allow list applies to the IPv4 address that 6to4, Teredo, NAT64 and
 * IPv4-translated addresses carry, and to the IPv6 ranges refused whole. */
static void test_allow_list_embedded(void **state)
{
    (void)state;
    char err[256];
    char *allow[] = {(char *)"10.20.0.0/16", (char *)"64:ff9b:1:5::/64", (char *)"2001:db8:1::/48",
                     (char *)"100::/64"};
    struct netguard *g = netguard_new(false, allow, 4, err, sizeof(err));
    assert_non_null(g);
    /* the embedded 10.20.3.4 is allowed, 10.21.0.1 is not */
    expect(g, "2002:a14:304::1", NULL);
    expect(g, "2002:a15:1::1", "private");
    expect(g, "::ffff:0:a14:304", NULL);
    expect(g, "::ffff:0:a15:1", "private");
    expect(g, "64:ff9b::a14:304", NULL);
    /* Teredo: client 10.20.3.4 allowed, server public or allowed */
    expect(g, "2001:0:808:808:8000:63bf:f5eb:fcfb", NULL);
    expect(g, "2001:0:a14:101:8000:63bf:f5eb:fcfb", NULL);
    /* ... but not with an internal server that is not allowed */
    expect(g, "2001:0:a15:1:8000:63bf:f5eb:fcfb", "private");
    expect(g, "2001:0:7f00:1:8000:63bf:f5eb:fcfb", "loopback");
    /* client 10.21.0.1 not allowed */
    expect(g, "2001:0:808:808:8000:63bf:f5ea:fffe", "private");
    /* named IPv6 ranges inside the refused ones go through, the rest not */
    expect(g, "64:ff9b:1:5::a00:1", NULL);
    expect(g, "64:ff9b:1:6::a00:1", "local-use NAT64");
    expect(g, "2001:db8:1::7", NULL);
    expect(g, "2001:db8:2::7", "documentation");
    expect(g, "100::1", NULL);
    /* without the guard's allow list (netguard_classify) */
    expect(NULL, "2002:a14:304::1", "private");
    expect(NULL, "2001:db8:1::7", "documentation");
    netguard_destroy(g);

    /* a 6to4 range named as such goes through */
    char *allow6[] = {(char *)"2002:a00:1::/48"};
    g = netguard_new(false, allow6, 1, err, sizeof(err));
    assert_non_null(g);
    expect(g, "2002:a00:1::5", NULL);
    expect(g, "2002:a00:2::5", "private");
    netguard_destroy(g);
}

static void test_parse(void **state)
{
    (void)state;
    struct netguard_cidr c;
    char err[256];
    static const char *const good[] = {"10.0.0.0/8",     "0.0.0.0/0", "192.168.1.1",
                                       "192.168.1.1/32", "::/0",      "fd00::/8",
                                       "2001:db8::1/128"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (netguard_parse_cidr(good[i], &c, err, sizeof(err)) != 0) {
            fail_msg("%s: %s", good[i], err);
        }
    }
    struct bad {
        const char *text;
        const char *why;
    };
    static const struct bad bad[] = {
        {"10.0.0.1/8", "bits set beyond"},
        {"10.0.0.0/33", "prefix length"},
        {"fd00::/129", "prefix length"},
        {"10.0.0.0/", "prefix length"},
        {"10.0.0.0/x", "prefix length"},
        {"10.0.0/8", "not a CIDR"},
        {"example.com/24", "not a CIDR"},
        {"", "not a CIDR"},
        {"/8", "not a CIDR"},
        {"10.0.0.0/-1", "prefix length"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (netguard_parse_cidr(bad[i].text, &c, err, sizeof(err)) != -1 ||
            strstr(err, bad[i].why) == NULL || strstr(err, "expected") == NULL) {
            fail_msg("\"%s\": message \"%s\" (expected one with \"%s\")", bad[i].text, err,
                     bad[i].why);
        }
    }
    char *allow[] = {(char *)"10.0.0.1/8"};
    assert_null(netguard_new(false, allow, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "10.0.0.1/8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),    cmocka_unit_test(test_allow_all),
        cmocka_unit_test(test_allow_list), cmocka_unit_test(test_allow_list_embedded),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
