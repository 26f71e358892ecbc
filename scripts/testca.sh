#!/bin/sh
# scripts/testca.sh DIR NAME: a throwaway CA and a server certificate for
# IP 127.0.0.1 signed by it, for the tests and the bench that run HTTPS
# endpoints on loopback (tests/e2e/tls.sh, bench/run.sh's https run).
# Writes DIR/ca.pem (the CA, for delivery.ca_file), DIR/server.pem and
# DIR/server.key (for nginx), and openssl's messages to DIR/openssl.err.
# NAME goes into the CA's common name.  RSA 2048, valid two days; the
# certificate's subjectAltName is IP:127.0.0.1, so host name verification
# passes for https://127.0.0.1:PORT/.  Exits non-zero when openssl fails.
set -u
D=$1
NAME=${2:-webhook-bridge-test-ca}
command -v openssl >/dev/null || {
    echo "testca: openssl is missing (apt-get install openssl)" >&2
    exit 1
}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$NAME" \
    -keyout "$D/ca.key" -out "$D/ca.pem" 2>"$D/openssl.err" &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$D/server.key" -out "$D/server.csr" 2>>"$D/openssl.err" &&
    printf 'subjectAltName=IP:127.0.0.1\n' >"$D/san.ext" &&
    openssl x509 -req -in "$D/server.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
        -days 2 -extfile "$D/san.ext" -out "$D/server.pem" 2>>"$D/openssl.err"
