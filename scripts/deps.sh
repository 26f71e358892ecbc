#!/bin/sh
# Installs the Debian packages webhook-bridge needs to build and test, but
# only when something is missing: `make` on a machine that has them all
# never touches apt.
set -e
need=""
pkg-config --exists rdkafka     || need="$need librdkafka-dev"
pkg-config --exists libcurl     || need="$need libcurl4-openssl-dev"
pkg-config --exists jansson     || need="$need libjansson-dev"
pkg-config --exists libconfig   || need="$need libconfig-dev"
pkg-config --exists libmicrohttpd || need="$need libmicrohttpd-dev"
pkg-config --exists openssl     || need="$need libssl-dev"
pkg-config --exists cmocka      || need="$need libcmocka-dev"
command -v pkg-config >/dev/null || need="$need pkg-config"
command -v cc >/dev/null        || need="$need gcc make"
command -v kcat >/dev/null      || need="$need kcat"
command -v jq >/dev/null        || need="$need jq"
command -v curl >/dev/null      || need="$need curl"
[ -x /usr/sbin/nginx ]          || need="$need nginx-light"
# make bench: wrk measures the machine's HTTP limit, gnuplot draws the
# deliveries per 100 ms (perf, for syscall counts, is optional: linux-perf).
command -v wrk >/dev/null       || need="$need wrk"
command -v gnuplot >/dev/null   || need="$need gnuplot-nox"
command -v cppcheck >/dev/null  || need="$need cppcheck"
# The tests check /metrics with the Prometheus client library's own parser.
/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null ||
    need="$need python3-minimal python3-prometheus-client"
command -v clang-format >/dev/null || need="$need clang-format"
# The real-Kafka tests (tests/kafka/broker.sh): a JVM and Maven, which fetches
# the pinned broker from Maven Central once (tests/kafka/pom.xml).
command -v java >/dev/null      || need="$need default-jdk-headless"
command -v mvn >/dev/null       || need="$need maven"
# broker.sh picks free ports with ss; e2e/signing recomputes HMACs with openssl.
command -v ss >/dev/null        || need="$need iproute2"
command -v openssl >/dev/null   || need="$need openssl"
[ -z "$need" ] && exit 0
echo "make deps: installing$need"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $need
