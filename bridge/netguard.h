/*
 * netguard: the SSRF guard.  Decides, for the address a delivery is about
 * to connect to (after DNS resolution, so a hostname that resolves to an
 * internal address is caught too), whether it is an internal one: loopback,
 * private (RFC 1918, RFC 4193), link-local (169.254.0.0/16, the cloud
 * metadata address among them, and fe80::/10), shared/CGNAT (100.64.0.0/10),
 * multicast, unspecified, reserved and broadcast, and the IPv6 forms that
 * carry one of these (IPv4-mapped, IPv4-compatible, NAT64, IPv4-translated,
 * 6to4, Teredo); also local-use NAT64 (64:ff9b:1::/48), discard-only
 * (100::/64) and documentation (2001:db8::/32) addresses.  Named CIDR ranges
 * (delivery.allow_networks) are let through; delivery.allow_private_networks
 * turns the guard off.
 *
 * Built by main before the workers start, then read-only: any thread may
 * call netguard_check.
 */
#ifndef BRIDGE_NETGUARD_H
#define BRIDGE_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct sockaddr;
struct netguard;

/* An address range, IPv4 addresses kept in their IPv4-mapped IPv6 form. */
struct netguard_cidr {
    uint8_t addr[16];
    int prefix; /* 0..128 over the 16-byte form */
};

/* Parses "10.20.0.0/16", "fd00:1::/64" or a single address (a /32 or
 * /128).  The bits beyond the prefix must be zero.  Returns 0, or -1 with
 * the reason in errstr. */
int netguard_parse_cidr(const char *text, struct netguard_cidr *out, char *errstr,
                        size_t errstr_size) WB_MUST_CHECK;

/* A guard that blocks internal addresses except those in the allow list
 * (texts as accepted by netguard_parse_cidr; refused ones are reported in
 * errstr and the call returns NULL).  allow_all: a guard that blocks
 * nothing (delivery.allow_private_networks = true). */
struct netguard *netguard_new(bool allow_all, char *const *allow, size_t n_allow, char *errstr,
                              size_t errstr_size);
void netguard_destroy(struct netguard *g);

/* NULL when a connection to sa may be made; otherwise the class of the
 * address ("loopback", "private", ...).  A NULL guard allows everything. */
const char *netguard_check(const struct netguard *g, const struct sockaddr *sa);

/* The class of an address regardless of any allow list, NULL for a public
 * one (for tests and messages). */
const char *netguard_classify(const struct sockaddr *sa);

#endif
