#!/bin/sh
# make bench: throughput, CPU, memory and latency of the bridge against a
# fast local receiver (nginx answering 204), on the mock Kafka cluster of
# tests/helpers/mockkafka.  A benchmark, not a test: it prints figures and
# the issue's targets next to them; it fails only when a run goes wrong.
#
#   sh bench/run.sh BIN OBJDIR        (BIN the bridge, OBJDIR/helpers the helpers)
#
# Events are what users send: seed 002's Subscribe event whole as jq prints
# it (examples/subscribe.json, 1,565 bytes), a fresh eventId and accountId
# each (tests/helpers/loadgen --event), and the bridge runs with the config's
# defaults (max_in_flight 1,024, endpoint_max_in_flight 64) unless a knob
# or a run says otherwise.
#
# For K = 1 and 4 endpoints per event:
#   throughput  a fresh mock cluster, N events preloaded (loadgen, no rate);
#               first the machine's HTTP limit: wrk (WRK_THREADS threads,
#               64*K connections, as many as the bridge opens, WRK_SECS s)
#               POSTs the first preloaded event, with the bridge's headers,
#               to the same nginx; then a fresh bridge, started under
#               perf stat (syscalls), drains the events.  nginx logs every
#               delivery with its time to the millisecond ($msec): from that
#               log come the per-100 ms series (series-100ms.txt, and
#               timeline.png drawn by gnuplot), the steady rate (deliveries in
#               the middle 80% of the time from the first delivery to the
#               last, and its ratio to the HTTP limit) and the steady phase's
#               100 ms intervals with no delivery.  nginx's request counter,
#               polled every 0.1 s, says when all N*K are in; the bridge's
#               utime+stime, sampled with it, gives CPU us per delivery over
#               the whole run and over the steady phase (interpolated at its
#               ends), and, sampled the same way, how busy the machine's
#               CPUs were in the steady phase (/proc/stat) and the mock
#               cluster's CPU per delivery: a machine 100% busy says the
#               rate is bound by CPU, not by the bridge waiting;
#               peak RSS is VmHWM just before SIGTERM; syscalls per
#               delivery are perf stat -I 100 -e raw_syscalls:sys_enter
#               counts (whole run from "ready", and the 100 ms intervals
#               ending in the steady phase); the connections that carried
#               the deliveries are nginx's distinct $connection numbers.
#   curlloop    the bridge's floor on libcurl, beside it (issue 10,
#               deliverable 4): tests/helpers/curlloop, a bare libcurl loop
#               shaped like the bridge's delivery workers (2 threads, each
#               its own multi handle on curl_multi_socket_action + epoll,
#               endpoint_max_in_flight/2 transfers each, keep-alive, the
#               bridge's options and headers, no Kafka, no signing, no JSON),
#               POSTs the run's event N times to the same nginx, then wrk
#               the same for BENCH_CURLLOOP_WRK_SECONDS; each under perf stat -e
#               raw_syscalls:sys_enter -e task-clock (syscalls and CPU per
#               request), with how busy the machine was and nginx's CPU per
#               request.  A table puts them beside the bridge's K=1
#               throughput drain (its steady phase).  With BENCH_PERF=1 each
#               runs again under perf record -g (perf-dso.txt, ... in
#               curlloop/NAME/ of the log directory, as the bridge's).
#               BENCH_CURLLOOP_PERFORM=1 adds curlloop --perform (the
#               simplest multi loop: curl_multi_perform + curl_multi_poll).
#   rss         a K=1 drain of 3 x RSS_MAX_IN_FLIGHT events (at most N)
#               with max_in_flight = RSS_MAX_IN_FLIGHT (10,000: the RSS
#               target's figure), without perf or wrk, into an nginx
#               location that answers RSS_RATE requests/s at most
#               (limit_req delays the rest): slower than the bridge fetches,
#               so the deliveries pile up to max_in_flight.  Its peak RSS,
#               and the most deliveries in flight seen (the bridge's
#               in_flight gauge, scraped with every poll) to show they did.
#   https       the throughput drain over HTTPS, for the same K: the same
#               nginx (same worker count and settings, keep-alive) also
#               listens with ssl, with a server certificate for IP
#               127.0.0.1 signed by a CA that openssl makes in the log
#               directory (RSA 2048, scripts/testca.sh, as for
#               tests/e2e/tls.sh); the bridge's
#               config adds delivery.ca_file = that CA (verification of the
#               certificate and host name stays on) and its endpoint URLs
#               are https://127.0.0.1:PORT/....  First wrk's HTTPS limit
#               (same threads, connections, body and headers, over the ssl
#               listener; wrk does not verify the certificate), then the
#               drain, with the same figures as throughput (ratio, CPU,
#               syscalls, empty intervals, peak RSS, PNG), and from nginx's
#               access log ($connection, $ssl_session_reused, $ssl_protocol,
#               $ssl_cipher): the connections that carried the run's
#               deliveries, each one TLS handshake, full or resumed, so
#               handshakes per delivery (~0 with keep-alive), and the
#               protocol and cipher negotiated (TLSv1.3,
#               TLS_AES_256_GCM_SHA384 with nginx's and Debian OpenSSL 3's
#               defaults; ssl_protocols is set, see bench/nginx.conf).  The
#               table puts each HTTPS figure under its HTTP one and adds the
#               bridge's steady CPU per delivery HTTPS - HTTP: what TLS
#               costs it with keep-alive.
#   latency     a fresh cluster and bridge, idle, then loadgen at 1,000
#               events/s for 10 s; p50/p99 of delivery_latency (Kafka
#               timestamp to 2xx) from the bridge's "final stats" line.
#   isolation   issue 9: one endpoint that answers 2xx but after 9 s
#               (webhook-bridge receive --delay 9000) takes half the
#               deliveries, beside a healthy one (nginx).  Each of two runs
#               is done without the slow endpoint, then with it, on a fresh
#               cluster and bridge: the drain of BENCH_ISOLATION_EVENTS
#               preloaded events (the healthy endpoint's steady rate, as
#               above), and RATE events/s for LAT_SECS s (the healthy
#               endpoint's deliveries/s over the run and its latency).  The
#               healthy endpoint's latency quantiles come from the bridge's
#               delivery_latency buckets up to 5 s (/metrics, scraped before
#               SIGTERM): the slow endpoint's first attempts answered 2xx
#               take 9 s and more, so they sit above; how many is printed.
#               Targets: p99 within 2x of the run without the slow
#               endpoint, deliveries/s within 10%.
#   records     what the per-delivery JSON work costs, call by call
#               (tests/helpers/recordbench): validating an event, writing a
#               delay record (a park), a dead letter, an attempt record,
#               reading a delay record back; 500 B and 1.5 KB events.
# Everything listens on 127.0.0.1; logs stay in the directory printed first.
#
# Knobs (environment): BENCH_EVENTS (N; default as many as fit the mock
# cluster with a 10% margin, at most 150,000: ~61,000 of 1,565 bytes),
# BENCH_PARTITIONS (24), BENCH_EVENT_BYTES (empty: seed 002 whole; N:
# loadgen's trimmed seed-002 event padded to N bytes, 500 the small variant),
# BENCH_ACCOUNTS (4096 distinct keys), BENCH_ENDPOINTS ("1 4"), BENCH_RATE
# (1000), BENCH_LATENCY_SECONDS (10), BENCH_NGINX_WORKERS (1; see below),
# BENCH_FETCH_WAIT_MS (see below), BENCH_RUNS ("throughput curlloop https rss
# latency routing isolation records", or any of them),
# BENCH_CURLLOOP_WRK_SECONDS (3), BENCH_CURLLOOP_PERFORM (empty, or 1),
# BENCH_ISOLATION_EVENTS (100000, or
# fewer to fit), BENCH_SLOW_MS (9000), BENCH_PERF=1 (perf record -g on the
# bridge during the throughput runs; the figures of those runs then include
# perf's overhead), BENCH_MAX_IN_FLIGHT (empty: the config default, 1,024),
# BENCH_RSS_MAX_IN_FLIGHT (10000, the rss run's), BENCH_RSS_RATE (4000, the
# rss run's endpoint's requests/s), BENCH_ENDPOINT_MAX_IN_FLIGHT (64, the
# config default; wrk opens as many connections per endpoint),
# BENCH_WRK_THREADS (2; see below), BENCH_WRK_SECONDS (10; 0 skips the HTTP
# limit), BENCH_SYSCALLS (on, or off to run the bridge without perf stat),
# BENCH_PROPERTIES (extra librdkafka properties for the throughput runs,
# "name=value ..."), BENCH_ATTEMPTS_LOG (on, or off to measure the delivery
# path without the attempts log). Needs nginx, wrk, kcat, jq, curl (and
# openssl for the https run); gnuplot
# for the PNGs and perf for the syscall counts are optional (a message says
# what is skipped).
set -u
BIN=${1:-build/webhook-bridge}
OBJDIR=${2:-build/release}
HELPERS=$OBJDIR/helpers
PARTS=${BENCH_PARTITIONS:-24}
# What users send: seed 002's Subscribe event whole, as jq prints it
# (examples/subscribe.json, 1,565 bytes without jq's final newline), with a
# fresh eventId and accountId per event (loadgen --event).  With
# BENCH_EVENT_BYTES=N, loadgen's trimmed seed-002 event padded to N bytes
# instead (500: the older, smaller variant).
if [ -n "${BENCH_EVENT_BYTES:-}" ]; then
    SIZE=$BENCH_EVENT_BYTES
    EVENT_SRC=""
else
    EVENT_SRC=examples/subscribe.json
    SIZE=$(($(jq . "$EVENT_SRC" | wc -c) - 1))
fi
case "$PARTS$SIZE" in *[!0-9]* | '') echo "bench: BENCH_* sizes must be plain integers" >&2 && exit 1 ;; esac
# N: by default as many events as fit the mock cluster's ~5 MiB per
# partition with a 10% margin (see "sizing" below), at most 150,000:
# ~61,000 events of 1,565 bytes, 150,000 of 500.
N_FIT=$((5242880 * 9 / 10 * 100 / 115 / (SIZE + 48) * PARTS / 1000 * 1000))
[ "$N_FIT" -lt 150000 ] || N_FIT=150000
N=${BENCH_EVENTS:-$N_FIT}
ACCOUNTS=${BENCH_ACCOUNTS:-4096}
KS=${BENCH_ENDPOINTS:-1 4}
RATE=${BENCH_RATE:-1000}
# Concurrent requests per endpoint: 64 is the config default (the bridge's
# conf.c); wrk opens as many connections per endpoint for the HTTP limit.
EP_MAX=${BENCH_ENDPOINT_MAX_IN_FLIGHT:-64}
# Deliveries the bridge holds at once: empty leaves the config default
# (1,024); the rss run sets 10,000 (the RSS target is for 10,000 in flight).
MAX_IN_FLIGHT=${BENCH_MAX_IN_FLIGHT:-}
RSS_MAX_IN_FLIGHT=${BENCH_RSS_MAX_IN_FLIGHT:-10000}
# The rss run's endpoint answers at most RSS_RATE requests/s (nginx's
# limit_req delays the rest), slower than the bridge fetches, so that its
# deliveries pile up to max_in_flight; it drains 3 x RSS_MAX_IN_FLIGHT events
# (at most N).
RSS_RATE=${BENCH_RSS_RATE:-4000}
# The machine's HTTP limit: wrk POSTing a real event of the run to the same
# nginx over the same connections (EP_MAX per endpoint) for WRK_SECS s.  Two
# threads by default, as the bridge has two delivery workers, and because
# two give the higher limit, the stricter denominator: 51.6k-55.1k
# requests/s against 42.8k-45.9k with one (1.5 KB POSTs, 64 connections,
# one nginx worker, 5 s each, alternated, on the shared 2-core machine).
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WRK_SECS=${BENCH_WRK_SECONDS:-10}
# Syscalls per delivery: the throughput runs start the bridge under
# perf stat -I 100 -e raw_syscalls:sys_enter (perf cannot attach to a
# running process on every machine: it counts nothing in some containers).
# Counting, not sampling: the tracepoint costs each syscall ~0.1-0.2 us
# (measured: a getppid loop, 0.20-0.25 us bare, 0.30-0.44 under perf stat),
# so ~1 us of the bridge's CPU per delivery at ~6.5 syscalls;
# BENCH_SYSCALLS=off runs it bare.
SYSCALLS=${BENCH_SYSCALLS:-on}
LAT_SECS=${BENCH_LATENCY_SECONDS:-10}
# nginx with one worker: on this 2-core machine "auto" (2 workers) took CPU
# from the bridge (measured: 11.7k/9.0k deliveries/s with auto against
# 13.4k/10.9k with 1 for K=1/K=4; one worker used ~18 us of CPU per
# request, far from saturated); BENCH_NGINX_WORKERS=auto to compare.
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-1}
# The mock cluster answers an empty fetch only after the consumer's whole
# fetch.wait.max.ms (500 ms by default): a real broker answers as soon as a
# record arrives.  The latency runs lower it so that they measure the bridge,
# not that quirk; 0 keeps librdkafka's default.
FETCH_WAIT_MS=${BENCH_FETCH_WAIT_MS:-5}
PERF=${BENCH_PERF:-}
# Extra librdkafka properties for the throughput runs ("name=value ..."), to
# compare settings.
EXTRA_PROPS=${BENCH_PROPERTIES:-}
# The attempts log (one Kafka record per attempt): on, as by default, or off
# to measure the delivery path alone.
ATTEMPTS_LOG=${BENCH_ATTEMPTS_LOG:-on}
RUNS=${BENCH_RUNS:-throughput curlloop https rss latency routing isolation records}
# The curlloop run's wrk: seconds (its requests are counted like curlloop's;
# BENCH_WRK_SECONDS=0 skips it too).
CL_WRK_SECS=${BENCH_CURLLOOP_WRK_SECONDS:-3}
# The https run: nginx's ssl listener, its certificate and the CA's, made in
# the log directory when it is on.
TLS_ON=""
case " $RUNS " in *" https "*) TLS_ON=1 ;; esac
# 100,000 or as many as fit the mock cluster (N_FIT above).
ISO_N_FIT=100000
[ "$N_FIT" -lt "$ISO_N_FIT" ] && ISO_N_FIT=$N_FIT
ISO_N=${BENCH_ISOLATION_EVENTS:-$ISO_N_FIT}
SLOW_MS=${BENCH_SLOW_MS:-9000}
RESULTS=build/bench-results.md
MOCK_PARTITION_BYTES=5242880 # rdkafka_mock.c: max_size of a partition's log
# Issue 10's targets (deliverable 2).
TARGET_RATIO=0.6
TARGET_CPU_US=35
TARGET_RSS_MB=80
TARGET_P99_MS=20
TARGET_EMPTY=0

T=$(mktemp -d /tmp/webhook-bridge-bench.XXXXXX)
PIDS=""
NGINX_PID=""
say() { printf '\n== %s\n' "$*"; }
die() {
    echo "bench: ERROR: $*" >&2
    echo "bench: logs in $T" >&2
    exit 1
}

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'echo "bench: interrupted; logs in $T" >&2; exit 130' INT TERM

# forget PID: it was stopped and waited for.
forget() {
    np=""
    for p in $PIDS; do [ "$p" = "$1" ] || np="$np $p"; done
    PIDS=$np
}

# alive PID: the process exists and is not a zombie.
alive() {
    st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_until SECONDS COMMAND...: polls every 0.1 s; 1 when time runs out.
wait_until() {
    limit=$1
    shift
    end=$(($(date +%s) + limit))
    while ! "$@" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
    return 0
}

dead() { ! alive "$1"; }

# stop PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL; sets RC to
# the exit code (137 after SIGKILL).
stop() {
    kill -TERM "$1" 2>/dev/null
    if ! wait_until "$2" dead "$1"; then
        echo "bench: process $1 did not exit within $2 s of SIGTERM: killed" >&2
        kill -9 "$1" 2>/dev/null
    fi
    wait "$1"
    RC=$?
    forget "$1"
}

# A TCP port nobody listens on (from /proc/net/tcp*), in 20000..29999.
free_port() {
    used=$(awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    i=0
    while [ $i -lt 100 ]; do
        p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 10000))
        hex=$(printf '%04X' "$p")
        if ! echo "$used" | grep -qx "$hex"; then
            echo "$p"
            return 0
        fi
        i=$((i + 1))
    done
    return 1
}

now() { date +%s.%N; }

# cpu_ticks PID: utime + stime in clock ticks (fields 14 and 15 of stat).
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# ---- checks -------------------------------------------------------------

for f in "$BIN" "$HELPERS/loadgen" "$HELPERS/routebench" "$HELPERS/recordbench"; do
    [ -x "$f" ] || die "$f is missing: run make all"
done
if [ ! -x "$HELPERS/mockkafka" ]; then
    [ -f tests/helpers/mockkafka.c ] || die "tests/helpers/mockkafka.c (the mock cluster helper) is not there yet"
    die "$HELPERS/mockkafka is missing: run make all"
fi
[ -x /usr/sbin/nginx ] || die "/usr/sbin/nginx is missing: apt-get install nginx-light"
for c in curl jq awk od kcat; do
    command -v $c >/dev/null || die "$c is missing"
done
case " $RUNS " in *" throughput "* | *" https "* | *" curlloop "*)
    [ "$WRK_SECS" -eq 0 ] || command -v wrk >/dev/null ||
        die "wrk is missing (apt-get install wrk), or BENCH_WRK_SECONDS=0 to skip the HTTP limit"
    ;;
esac
if [ "$SYSCALLS" = on ] && ! command -v perf >/dev/null; then
    echo "bench: perf is missing (apt-get install linux-perf): no syscall counts"
    SYSCALLS=off
fi
case " $RUNS " in *" curlloop "*)
    [ -x "$HELPERS/curlloop" ] || die "$HELPERS/curlloop is missing: run make all"
    ;;
esac
case "$N$PARTS$SIZE$ACCOUNTS$RATE$LAT_SECS$ISO_N$SLOW_MS$EP_MAX$WRK_THREADS$WRK_SECS$RSS_MAX_IN_FLIGHT$RSS_RATE${MAX_IN_FLIGHT:-0}$CL_WRK_SECS" in
*[!0-9]*) die "BENCH_* sizes must be plain integers" ;;
esac
TICK=$(getconf CLK_TCK)
NPROC=$(nproc)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
VERSION=$("$BIN" version)
echo "webhook-bridge benchmark; logs in $T"
echo "machine: $NPROC CPUs, $CPU_MODEL; $(uname -sr)"
echo "bridge:  $VERSION"
echo "nginx:   $(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //'), $NGINX_WORKERS worker process(es)"
# Other work on the machine skews every figure: say how busy it was.
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load:    $LOAD0 (1, 5, 15 min) before the runs"
[ "$(awk '{ print ($1 >= 0.5) }' /proc/loadavg)" = 1 ] &&
    echo "         WARNING: the machine is busy; the figures will be lower than on an idle one"

# The mock cluster keeps about 5 MiB per partition and silently drops the
# oldest records beyond: N must fit.  A record costs its value, its key (a
# 36-byte accountId) and ~12 bytes of framing; keys hash unevenly, so allow
# 15% more than the mean on the fullest partition.
per_part=$(((N + PARTS - 1) / PARTS))
est=$((per_part * (SIZE + 36 + 12) * 115 / 100))
margin=$(((MOCK_PARTITION_BYTES - est) * 100 / MOCK_PARTITION_BYTES))
echo "sizing:  N=$N events of ~$SIZE bytes over $PARTS partitions ($ACCOUNTS account keys):" \
    "~$per_part records, ~$((est / 1024)) KiB on the fullest partition (+15% skew)" \
    "of the mock's $((MOCK_PARTITION_BYTES / 1024)) KiB: margin ~$margin%"
[ "$est" -lt "$MOCK_PARTITION_BYTES" ] ||
    die "N=$N does not fit the mock cluster's ~5 MiB per partition: lower BENCH_EVENTS or raise BENCH_PARTITIONS"

# loadgen's event: SHAPE, its arguments.
if [ -n "$EVENT_SRC" ]; then
    jq . "$EVENT_SRC" >"$T/event.json" || die "jq could not read $EVENT_SRC"
    SHAPE="--event $T/event.json"
    echo "events:  $EVENT_SRC (seed 002) as jq prints it, $SIZE bytes, fresh eventId and accountId each"
else
    SHAPE="--size $SIZE"
    echo "events:  loadgen's trimmed seed-002 event padded to $SIZE bytes (BENCH_EVENT_BYTES)"
fi

# perf may be there and still not allowed to count a tracepoint
# (kernel.perf_event_paranoid, no root): try it on `true` first.
if [ "$SYSCALLS" = on ]; then
    if perf stat -x, -e raw_syscalls:sys_enter -o "$T/perf-probe.csv" -- true >"$T/perf-probe.out" 2>&1 &&
        grep -q '^[0-9][0-9]*,' "$T/perf-probe.csv"; then
        :
    else
        echo "bench: perf stat cannot count raw_syscalls:sys_enter here (see $T/perf-probe.out): no syscall counts"
        SYSCALLS=off
    fi
fi

# The https run's CA and a server certificate for IP 127.0.0.1 signed by it
# (scripts/testca.sh, as for tests/e2e/tls.sh): nginx serves the certificate, the bridge
# trusts the CA through delivery.ca_file.
if [ -n "$TLS_ON" ]; then
    command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl), or leave https out of BENCH_RUNS"
    sh scripts/testca.sh "$T" webhook-bridge-bench-ca ||
        die "openssl could not make the https run's certificates (see $T/openssl.err)"
    echo "https:   a CA ($T/ca.pem) and a server certificate for IP 127.0.0.1 signed by it (RSA 2048)"
fi

# ---- nginx --------------------------------------------------------------

say "receiver: nginx on 127.0.0.1"
NG=$T/nginx
mkdir -p "$NG"
i=0
while :; do
    i=$((i + 1))
    [ $i -le 5 ] || die "nginx did not start (see $NG/error.log)"
    NPORT=$(free_port) || die "no free TCP port"
    TLS_PORT=$(free_port) || die "no free TCP port"
    [ "$TLS_PORT" != "$NPORT" ] || continue
    # Without the https run, no ssl listener (the lines ending in "# tls").
    sed -e "s|@PREFIX@|$NG|g" -e "s|@PORT@|$NPORT|g" -e "s|@WORKERS@|$NGINX_WORKERS|g" \
        -e "s|@CONNECTIONS@|16384|g" -e "s|@NOFILE@|19000|g" -e "s|@PACED_RATE@|$RSS_RATE|g" \
        -e "s|@TLS_PORT@|$TLS_PORT|g" -e "s|@TLS_CERT@|$T/server.pem|g" -e "s|@TLS_KEY@|$T/server.key|g" \
        bench/nginx.conf | if [ -n "$TLS_ON" ]; then cat; else sed '/# tls$/d'; fi >"$NG/nginx.conf"
    /usr/sbin/nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" >"$NG/stdout" 2>&1 &
    NGINX_PID=$!
    PIDS="$PIDS $NGINX_PID"
    if wait_until 10 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$NPORT/status" &&
        { [ -z "$TLS_ON" ] || wait_until 10 curl -sf -o /dev/null --max-time 1 --cacert "$T/ca.pem" \
            "https://127.0.0.1:$TLS_PORT/status"; }; then
        break
    fi
    stop "$NGINX_PID" 5
done
echo "  nginx master pid $NGINX_PID, port $NPORT${TLS_ON:+, ssl port $TLS_PORT}"
# A POST with an event as its body gets 204, and the connection is kept for the
# next one.
cp examples/subscribe.json "$T/body.json"
curl -sv -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$T/body.json" \
    "http://127.0.0.1:$NPORT/hook/1" --next -o /dev/null -X POST \
    -H 'Content-Type: application/json' --data-binary @"$T/body.json" \
    "http://127.0.0.1:$NPORT/hook/2" >"$T/curl-check.log" 2>&1
[ "$(grep -c '^< HTTP/1.1 204' "$T/curl-check.log")" -eq 2 ] ||
    die "nginx did not answer 204 to a POST with a body (see $T/curl-check.log)"
grep -q 'Re-using existing connection' "$T/curl-check.log" ||
    die "nginx did not keep the connection alive after a POST (see $T/curl-check.log)"
echo "  POST with an event body: 204, connection kept alive (curl -v: $T/curl-check.log)"
if [ -n "$TLS_ON" ]; then
    # The same over HTTPS, curl verifying the certificate with the CA as the
    # bridge will.
    curl -sv -o /dev/null --cacert "$T/ca.pem" -X POST -H 'Content-Type: application/json' \
        --data-binary @"$T/body.json" "https://127.0.0.1:$TLS_PORT/hook/1" --next -o /dev/null \
        --cacert "$T/ca.pem" -X POST -H 'Content-Type: application/json' \
        --data-binary @"$T/body.json" "https://127.0.0.1:$TLS_PORT/hook/2" >"$T/curl-check-tls.log" 2>&1
    [ "$(grep -c '^< HTTP/1.1 204' "$T/curl-check-tls.log")" -eq 2 ] ||
        die "nginx did not answer 204 to a POST over HTTPS (see $T/curl-check-tls.log)"
    grep -q 'Re-using existing connection' "$T/curl-check-tls.log" ||
        die "nginx did not keep the HTTPS connection alive after a POST (see $T/curl-check-tls.log)"
    echo "  the same over HTTPS, the certificate verified with the CA:" \
        "$(sed -n 's/^\* SSL connection using //p' "$T/curl-check-tls.log" | head -1) (curl -v: $T/curl-check-tls.log)"
fi

# status: sets REQS (nginx's request counter, this request included) and
# ACTIVE (open connections).
status() {
    s=$(curl -sf --max-time 2 "http://127.0.0.1:$NPORT/status") || return 1
    REQS=$(echo "$s" | awk 'NR == 3 { print $3 }')
    ACTIVE=$(echo "$s" | awk 'NR == 1 { print $3 }')
    [ -n "$REQS" ]
}
nginx_ticks() {
    t=0
    for p in $(pgrep -P "$NGINX_PID"); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done
    echo $t
}

# ---- one run's pieces ----------------------------------------------------

# start_cluster DIR [DELAY-PARTITIONS]: a fresh mock cluster with the
# bridge's topics (the delay topics with 1 partition unless told); sets BOOT.
start_cluster() {
    "$HELPERS/mockkafka" --brokers 1 --topic "subscription-events:$PARTS" \
        --topic webhook-endpoints:1 --topic "webhook-dead-letter:$PARTS" \
        --topic "webhook-attempts:$PARTS" --topic "webhook-delay-0s:${2:-1}" \
        --topic "webhook-delay-5m:${2:-1}" --wait </dev/null >"$1/mockkafka.out" 2>"$1/mockkafka.err" &
    MOCK_PID=$!
    PIDS="$PIDS $MOCK_PID"
    wait_until 15 grep -q '^bootstrap=' "$1/mockkafka.out" ||
        die "mockkafka printed no bootstrap= line within 15 s (see $1/mockkafka.err)"
    BOOT=$(sed -n 's/^bootstrap=//p' "$1/mockkafka.out" | head -1)
}

# write_conf FILE K [librdkafka properties...]: the endpoints' URLs are
# HOOK_SCHEME://127.0.0.1:HOOK_PORT/HOOK_BASE/HOOK_RUN/N (http, nginx's
# port, hook, other unless set); CONF_CA_FILE, when set, is delivery.ca_file.
write_conf() {
    f=$1
    k=$2
    shift 2
    props=""
    for p in "$@"; do props="$props${props:+, }\"$p\""; done
    {
        attempts_topic=webhook-attempts
        [ "$ATTEMPTS_LOG" = off ] && attempts_topic=""
        echo "kafka = { brokers = \"$BOOT\"; create_topics = false; properties = [ $props ];"
        echo "          topics = { attempts = \"$attempts_topic\"; }; };"
        # max_in_flight: the config default unless a run or a knob sets it.
        mif=${CONF_MAX_IN_FLIGHT:-$MAX_IN_FLIGHT}
        echo "delivery = { allow_private_networks = true; workers = 2;${mif:+ max_in_flight = $mif;}"
        # The https run: the CA that signed nginx's certificate.
        echo "             endpoint_max_in_flight = $EP_MAX;${CONF_CA_FILE:+ ca_file = \"$CONF_CA_FILE\";} };"
        echo "admin = { listen = \"127.0.0.1:$(free_port)\"; };"
        echo "log = { level = \"info\"; };"
        echo "endpoints = ("
        j=1
        while [ $j -le "$k" ]; do
            [ $j -gt 1 ] && echo ","
            # /hook/RUN/N (/paced/RUN/N): nginx's access log tells the runs apart.
            printf '  { id = "bench-%d"; account_id = "*"; url = "%s://127.0.0.1:%s/%s/%s/%d"; }' \
                $j "${HOOK_SCHEME:-http}" "${HOOK_PORT:-$NPORT}" "${HOOK_BASE:-hook}" "${HOOK_RUN:-other}" $j
            j=$((j + 1))
        done
        # The isolation runs' slow endpoint, when SLOW_PORT is set.
        [ -n "${SLOW_PORT:-}" ] &&
            printf ',\n  { id = "bench-slow"; account_id = "*"; url = "http://127.0.0.1:%s/hook/slow"; }' \
                "$SLOW_PORT"
        echo
        echo ");"
    } >"$f"
    "$BIN" check-config -c "$f" >"$f.check" 2>&1 || die "bad bridge config $f: $(cat "$f.check")"
}

# start_bridge DIR [perf]: runs the bridge on DIR/bridge.conf until "ready";
# sets BPID.  With "perf" it runs under perf stat counting its syscalls every
# 100 ms into DIR/syscalls.csv (PERF_T0: perf's start, the intervals' zero),
# through a shell that keeps the bridge's exit code in DIR/bridge.rc (perf
# exits 0 whatever its command does); PERF_WRAP is perf's pid.
start_bridge() {
    PERF_WRAP=""
    if [ "${2:-}" = perf ]; then
        rm -f "$1/bridge.rc"
        PERF_T0=$(now)
        perf stat -I 100 -x, -e raw_syscalls:sys_enter -o "$1/syscalls.csv" -- \
            sh -c '"$0" run -c "$1" >"$2/bridge.out" 2>"$2/bridge.log"; echo $? >"$2/bridge.rc"' \
            "$BIN" "$1/bridge.conf" "$1" >"$1/perf-stat.out" 2>&1 &
        PERF_WRAP=$!
        PIDS="$PIDS $PERF_WRAP"
        # shellcheck disable=SC2317
        bridge_child() {
            sh_pid=$(pgrep -P "$PERF_WRAP" | head -1)
            [ -n "$sh_pid" ] && BPID=$(pgrep -P "$sh_pid" | head -1) && [ -n "$BPID" ]
        }
        BPID=""
        wait_until 10 bridge_child || die "the bridge did not start under perf stat (see $1/perf-stat.out)"
    else
        "$BIN" run -c "$1/bridge.conf" >"$1/bridge.out" 2>"$1/bridge.log" &
        BPID=$!
    fi
    PIDS="$PIDS $BPID"
    wait_until 30 grep -q '"msg":"ready"' "$1/bridge.log" ||
        die "the bridge did not log ready within 30 s (see $1/bridge.log)"
}

# final_stats DIR JQ-EXPR: a value of the bridge's "final stats" line.
final_stats() {
    grep '"msg":"final stats"' "$1/bridge.log" | tail -1 | jq -r "$2"
}

# stop_bridge DIR: SIGTERM; the bridge must exit 0 within 30 s.
stop_bridge() {
    if [ -n "$PERF_WRAP" ]; then
        kill -TERM "$BPID" 2>/dev/null
        wait_until 30 dead "$BPID" || die "the bridge did not exit within 30 s of SIGTERM (see $1/bridge.log)"
        forget "$BPID"
        stop "$PERF_WRAP" 10
        PERF_WRAP=""
        RC=$(cat "$1/bridge.rc" 2>/dev/null || echo "unknown")
    else
        stop "$BPID" 30
    fi
    [ "$RC" = 0 ] || die "the bridge exited $RC after SIGTERM (see $1/bridge.log)"
    grep -q '"msg":"final stats"' "$1/bridge.log" || die "no final stats line in $1/bridge.log"
}

# ---- throughput -----------------------------------------------------------

# event_body DIR: the first preloaded event (a real one of this run's size)
# into $T/body.event, once, for wrk.
event_body() {
    [ -s "$T/body.event" ] && return 0
    kcat -C -b "$BOOT" -t subscription-events -p 0 -o beginning -c 1 -e -q -f '%s' \
        >"$T/body.event" 2>"$1/kcat.err" && [ -s "$T/body.event" ] ||
        die "kcat could not read a preloaded event (see $1/kcat.err)"
}

# wrk_script: $T/wrk-post.lua, wrk's script POSTing $T/body.event with the
# bridge's headers.
wrk_script() {
    id=$(jq -r .eventId "$T/body.event")
    cat >"$T/wrk-post.lua" <<EOF_L
-- bench/run.sh: POST one real event as the bridge does (no secret: no signature).
wrk.method = "POST"
local f = assert(io.open("$T/body.event", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "webhook-bridge/bench"
wrk.headers["webhook-id"] = "$id"
wrk.headers["webhook-timestamp"] = "$(date +%s)"
EOF_L
}

# http_limit K [https]: the machine's HTTP limit for K endpoints: wrk,
# WRK_THREADS thread(s), EP_MAX*K connections (as many as the bridge opens),
# POSTing $T/body.event with the bridge's headers to the same nginx for
# WRK_SECS s; sets LIMIT_K (requests/s).  With https, the same over nginx's
# ssl listener (wrk does not verify the certificate); sets HLIMIT_K and
# prints the protocol and cipher wrk negotiated (nginx's access log).
http_limit() {
    k=$1
    scheme=http port=$NPORT lpfx="" what=HTTP wtag=wrk-k$k
    if [ "${2:-}" = https ]; then
        scheme=https port=$TLS_PORT lpfx=H what=HTTPS wtag=https-wrk-k$k
    fi
    c=$((EP_MAX * k))
    wrk_script
    say "$what limit, K=$k: wrk -t$WRK_THREADS -c$c -d${WRK_SECS}s, POST of a $(wc -c <"$T/body.event" | tr -d ' ')-byte event"
    wrk -t "$WRK_THREADS" -c "$c" -d "${WRK_SECS}s" -s "$T/wrk-post.lua" \
        "$scheme://127.0.0.1:$port/hook/$wtag/1" >"$T/$wtag.txt" 2>&1 ||
        die "wrk failed (see $T/$wtag.txt)"
    grep -q 'Non-2xx' "$T/$wtag.txt" && die "nginx answered wrk with non-2xx (see $T/$wtag.txt)"
    lim=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$T/$wtag.txt")
    [ -n "$lim" ] || die "no Requests/sec in $T/$wtag.txt"
    echo "  $lim requests/s ($(sed -n 's/^ *Latency *\([^ ]*\).*/latency mean \1/p' "$T/$wtag.txt"); $T/$wtag.txt)"
    if [ "$scheme" = https ]; then
        sleep 0.5 # nginx flushes its log buffer every 100 ms
        echo "  wrk's TLS: $(conn_stats "hook/$wtag" | sed -n 's/^tls //p')"
    fi
    eval "${lpfx}LIMIT_$k=$lim"
}

# conn_stats RUN: from nginx's access log, the connections of the requests
# to /RUN/: a line "conns N full F resumed R requests D" (the distinct
# connections that carried them, by $connection; over HTTPS each began with
# one TLS handshake, a full one or a resumption, by $ssl_session_reused of
# its first request) and a line "tls ..." (over HTTPS, the protocols and
# ciphers negotiated, with their requests and connections).
conn_stats() {
    awk -v p="/$1/" 'index($3, p) == 1 {
            d++; pc = $5 " " $6; req[pc]++
            if (!($2 in seen)) { seen[$2] = 1; n++; if ($4 == "r") r++; else f++; conn[pc]++ }
        }
        END {
            printf "conns %d full %d resumed %d requests %d\n", n, f, r, d
            printf "tls"; sep = " "
            for (pc in req) { printf "%s%s (%d requests on %d connections)", sep, pc, req[pc], conn[pc]; sep = "; " }
            printf "\n"
        }' "$NG/access.log"
}

# timeline DIR RUN: from nginx's access log, DIR/times (the run's delivery
# times, s), DIR/series-100ms.txt ("seconds since the first delivery,
# deliveries in the 100 ms from there") and DIR/timeline (one line: steady
# rate, overall rate, first-to-last duration, steady window start and end,
# deliveries in it, 100 ms intervals in it with no delivery, intervals in
# it).  The steady phase is the middle 80% of the time from the first
# delivery to the last; an interval counts when it lies wholly inside.
timeline() {
    # nginx flushes its log buffer every 100 ms.
    sleep 0.5
    awk -v p="/$2/" 'index($3, p) == 1 { print $1 }' "$NG/access.log" | sort -n >"$1/times"
    awk -v series="$1/series-100ms.txt" '
        { t[NR] = $1 }
        END {
            n = NR; if (n < 2) { print "0 0 0 0 0 0 0 0"; exit }
            f = t[1]; dur = t[n] - f; a = f + 0.1 * dur; b = t[n] - 0.1 * dur
            for (i = 1; i <= n; i++) {
                bin = int((t[i] - f) * 10); c[bin]++
                if (bin > last) last = bin
                if (t[i] >= a && t[i] <= b) m++
            }
            empty = 0; inside = 0
            for (j = 0; j <= last; j++) {
                printf "%.1f %d\n", j / 10, c[j] + 0 >series
                if (f + j / 10 >= a && f + (j + 1) / 10 <= b) { inside++; if (c[j] + 0 == 0) empty++ }
            }
            printf "%.0f %.0f %.2f %.3f %.3f %d %d %d\n", (b > a ? m / (b - a) : 0),
                (dur > 0 ? (n - 1) / dur : 0), dur, a, b, m, empty, inside
        }' "$1/times" >"$1/timeline"
}

# at_time FILE COLUMN X: COLUMN of FILE (a time in column 1, ascending)
# interpolated linearly at time X.
at_time() {
    awk -v x="$3" -v col="$2" '{ t[NR] = $1; v[NR] = $col }
        END { for (i = 1; i < NR && t[i + 1] < x; i++) ;
              if (i >= NR || t[i + 1] == t[i]) { print v[i]; exit }
              printf "%.3f\n", v[i] + (v[i + 1] - v[i]) * (x - t[i]) / (t[i + 1] - t[i]) }' "$1"
}

# plot DIR TITLE: DIR/timeline.png, deliveries per 100 ms over the run, the
# steady phase between vertical lines (from DIR/timeline and DIR/times).
plot() {
    command -v gnuplot >/dev/null || { echo "  no plot: gnuplot is missing (apt-get install gnuplot-nox)"; return 0; }
    read -r _ _ _ pa pb _ <"$1/timeline"
    f=$(head -1 "$1/times")
    xa=$(awk -v a="$pa" -v f="$f" 'BEGIN { printf "%.3f", a - f }')
    xb=$(awk -v b="$pb" -v f="$f" 'BEGIN { printf "%.3f", b - f }')
    gnuplot -e "set terminal png size 960,420; set output '$1/timeline.png';
        set arrow from $xa, graph 0 to $xa, graph 1 nohead;
        set arrow from $xb, graph 0 to $xb, graph 1 nohead;
        set title '$2' noenhanced; set xlabel 'seconds since the first delivery (steady phase between the vertical lines)';
        set ylabel 'deliveries per 100 ms'; set yrange [0:*]; set grid; set key off;
        plot '$1/series-100ms.txt' using 1:2 with steps lw 1.5" >"$1/gnuplot.log" 2>&1 ||
        { echo "  no plot: gnuplot failed (see $1/gnuplot.log)"; return 0; }
    PLOTS="$PLOTS $1/timeline.png"
}

# perf_summary DIR: DIR/perf.data (perf record -g) summed up into
# DIR/perf-dso.txt, perf-self.txt and perf-children.txt, and printed.
perf_summary() {
    # Self time by library and symbol (libcurl is stripped: its static
    # functions show as addresses), then inclusive time, which names
    # the bridge's and libcurl's exported functions above them.
    perf report -i "$1/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -8 >"$1/perf-dso.txt"
    perf report -i "$1/perf.data" --stdio --no-children --sort dso,symbol -g none \
        2>/dev/null | grep -E '^ +[0-9]' | head -40 >"$1/perf-self.txt"
    perf report -i "$1/perf.data" --stdio --children --sort symbol -g none 2>/dev/null |
        grep -E '^ +[0-9]' | grep -v ' 0x0000' | head -40 >"$1/perf-children.txt"
    echo "  perf (in $1): CPU by library:"
    sed 's/^ */    /' "$1/perf-dso.txt"
    echo "  perf: top symbols by self time:"
    head -12 "$1/perf-self.txt" | sed 's/^ */    /'
    echo "  perf: top named functions by inclusive time:"
    head -25 "$1/perf-children.txt" | sed 's/^ */    /'
}

# throughput K [rss|https]: drains N preloaded events into K endpoints.  Sets
# RATE_K (steady deliveries/s), CPU_K / CPUS_K (bridge CPU us per delivery,
# whole run / steady phase), RSS_K, PEAKCONN_K, EMPTY_K (empty 100 ms
# intervals in the steady phase), SYS_K / SYSS_K (syscalls per delivery,
# whole run / steady phase).  With "rss" (K=1): max_in_flight RSS_MAX_IN_FLIGHT
# instead of the config default, for the RSS target; sets RSS10K and
# RSS10K_INFLIGHT (the most in flight seen).  With "https": the endpoints
# on nginx's ssl listener, delivery.ca_file the CA; sets the same figures
# prefixed with H (HRATE_K, ...), and HCONN_K (the TLS connections, full
# handshakes and resumptions), HHS_K (handshakes per delivery) and
# TLS_NEGOTIATED.
throughput() {
    k=$1
    mode=${2:-}
    tag=k$k
    base=hook
    nev=$N
    pfx=""
    if [ "$mode" = https ]; then
        tag=https-k$k
        pfx=H
    fi
    if [ "$mode" = rss ]; then
        tag=rss-k$k
        base=paced
        [ $((3 * RSS_MAX_IN_FLIGHT)) -lt "$nev" ] && nev=$((3 * RSS_MAX_IN_FLIGHT))
    fi
    D=$T/throughput-$tag
    mkdir -p "$D"
    total=$((nev * k))
    if [ "$mode" = rss ]; then
        say "rss, K=$k: $nev events -> $total deliveries with max_in_flight = $RSS_MAX_IN_FLIGHT," \
            "the endpoint answering $RSS_RATE/s at most (nginx limit_req)"
    else
        say "${mode:-throughput}, K=$k endpoint(s) per event: $nev events -> $total deliveries${pfx:+ over HTTPS}"
    fi
    start_cluster "$D"
    echo "  mock cluster $BOOT (pid $MOCK_PID)"
    "$HELPERS/loadgen" --bootstrap "$BOOT" --topic subscription-events --count "$nev" \
        $SHAPE --accounts "$ACCOUNTS" >"$D/loadgen.out" 2>"$D/loadgen.err" ||
        die "preloading with loadgen failed: $(cat "$D/loadgen.err")"
    sed -n 's/^loadgen: /  preload: /p' "$D/loadgen.out"
    maxb=$(sed -n 's/.*max_partition_bytes=\([0-9]*\).*/\1/p' "$D/loadgen.out")
    lsm=$(sed -n 's/.*log_start_max=\([0-9]*\).*/\1/p' "$D/loadgen.out")
    [ "${lsm:-1}" = 0 ] || die "the mock cluster dropped preloaded records (log start offset $lsm): lower BENCH_EVENTS"
    echo "  fullest partition: $((maxb / 1024)) KiB of $((MOCK_PARTITION_BYTES / 1024)) KiB" \
        "(margin $(((MOCK_PARTITION_BYTES - maxb) * 100 / MOCK_PARTITION_BYTES))%), nothing dropped"
    event_body "$D"
    if [ "$mode" != rss ] && [ "$WRK_SECS" -gt 0 ]; then
        # In the same run, on the same nginx, with the cluster idle.
        http_limit "$k" "$mode"
        say "${mode:-throughput}, K=$k: the bridge"
    fi

    CONF_MAX_IN_FLIGHT=""
    [ "$mode" = rss ] && CONF_MAX_IN_FLIGHT=$RSS_MAX_IN_FLIGHT
    scheme=http port=$NPORT CONF_CA_FILE=""
    [ "$mode" = https ] && scheme=https port=$TLS_PORT CONF_CA_FILE=$T/ca.pem
    # shellcheck disable=SC2086
    HOOK_SCHEME=$scheme HOOK_PORT=$port HOOK_BASE=$base HOOK_RUN=$tag write_conf "$D/bridge.conf" "$k" $EXTRA_PROPS
    CONF_MAX_IN_FLIGHT="" CONF_CA_FILE=""
    status || die "nginx /status failed"
    r0=$REQS
    polls=0
    n0=$(nginx_ticks)
    withperf=""
    [ "$SYSCALLS" = on ] && [ "$mode" != rss ] && withperf=perf
    start_bridge "$D" $withperf
    echo "  bridge pid $BPID ready${withperf:+ (under perf stat: syscalls)}; polling nginx every 0.1 s"
    if [ -n "$PERF" ]; then
        # DWARF call graphs: libcurl and libc have no frame pointers.
        perf record -e cpu-clock --call-graph dwarf -F 499 -p "$BPID" -o "$D/perf.data" >"$D/perf.log" 2>&1 &
        PERF_PID=$!
        PIDS="$PIDS $PERF_PID"
    fi
    # samples: "time deliveries open-connections bridge-CPU-ticks
    # machine-busy-jiffies machine-total-jiffies mock-CPU-ticks [in-flight]"
    : >"$D/samples"
    peak=0
    peak_if=0
    limit=$(($(date +%s) + 60 + total / 2000))
    last_d=-1
    last_change=$(date +%s)
    while :; do
        status || die "nginx /status failed during the run"
        polls=$((polls + 1))
        t=$(now)
        d=$((REQS - r0 - polls))
        [ "$ACTIVE" -gt "$peak" ] && peak=$ACTIVE
        inflight=""
        if [ "$mode" = rss ]; then
            inflight=$(curl -s --max-time 1 "http://$(admin_of "$D")/metrics" |
                awk '$1 == "webhook_bridge_in_flight" { print $2 }')
            [ -n "$inflight" ] && [ "${inflight%.*}" -gt "$peak_if" ] && peak_if=${inflight%.*}
        fi
        echo "$t $d $ACTIVE $(cpu_ticks "$BPID") $(machine_jiffies) $(cpu_ticks "$MOCK_PID") $inflight" >>"$D/samples"
        [ "$d" -ge "$total" ] && break
        alive "$BPID" || die "the bridge died during the run (see $D/bridge.log)"
        s=$(date +%s)
        if [ "$d" -ne "$last_d" ]; then
            last_d=$d
            last_change=$s
        fi
        [ $((s - last_change)) -lt 30 ] ||
            die "no delivery for 30 s at $d of $total (see $D/bridge.log)"
        [ "$s" -lt "$limit" ] || die "only $d of $total deliveries after the time limit"
        sleep 0.1
    done
    ticks=$(cpu_ticks "$BPID")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$BPID/status")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$BPID/status")
    nticks=$(($(nginx_ticks) - n0))
    # Which threads took the CPU (librdkafka names its threads "rdk:...";
    # the bridge's own are all "webhook-bridge").
    for task in /proc/"$BPID"/task/*; do
        printf '%s\t%s/%s\n' "$(cpu_ticks "${task#/proc/}")" "$(tr -d '\t' <"$task/comm")" \
            "${task##*/}"
    done | sort -rn >"$D/threads"
    if [ -n "$PERF" ]; then
        kill -INT "$PERF_PID"
        wait_until 30 sh -c "! kill -0 $PERF_PID" || kill -9 "$PERF_PID"
        wait "$PERF_PID"
        forget "$PERF_PID"
    fi
    stop_bridge "$D"
    stop "$MOCK_PID" 10

    succeeded=$(final_stats "$D" .deliveries_succeeded)
    failed=$(final_stats "$D" .attempts_failed)
    consumed=$(final_stats "$D" .events_consumed)
    [ "$succeeded" = "$total" ] ||
        echo "  WARNING: the bridge counted $succeeded successful deliveries, not $total"
    [ "$failed" = 0 ] || echo "  WARNING: $failed attempts failed"
    [ "$consumed" = "$nev" ] || echo "  WARNING: $consumed events consumed, not $nev (redelivery?)"
    [ "$d" -eq "$total" ] || echo "  WARNING: nginx counted $d requests, not $total"
    [ "$mode" = rss ] && echo "  (the rate and CPU figures below are of a run paced by nginx at $RSS_RATE/s)"

    timeline "$D" "$base/$tag"
    read -r steady avg dur sa sb sn empty inside <"$D/timeline"
    logged=$(wc -l <"$D/times" | tr -d ' ')
    [ "$logged" -eq "$total" ] || echo "  WARNING: nginx logged $logged deliveries of this run, not $total"
    cpu_us=$(awk -v t="$ticks" -v hz="$TICK" -v n="$d" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    # The steady phase's CPU: the bridge's ticks (sampled with the requests,
    # 1/TICK s resolution) interpolated at the window's ends.
    ta=$(at_time "$D/samples" 4 "$sa")
    tb=$(at_time "$D/samples" 4 "$sb")
    cpus_us=$(awk -v a="$ta" -v b="$tb" -v hz="$TICK" -v n="$sn" \
        'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / hz / n }')
    # The machine in the steady phase: how busy its CPUs were (all of them,
    # /proc/stat) and the mock cluster's CPU per delivery: whether the
    # bridge is short of CPU, not of work.
    busy=$(awk -v ba="$(at_time "$D/samples" 5 "$sa")" -v bb="$(at_time "$D/samples" 5 "$sb")" \
        -v ta="$(at_time "$D/samples" 6 "$sa")" -v tb="$(at_time "$D/samples" 6 "$sb")" \
        'BEGIN { if (tb > ta) printf "%.0f", (bb - ba) * 100 / (tb - ta) }')
    mcpus_us=$(awk -v a="$(at_time "$D/samples" 7 "$sa")" -v b="$(at_time "$D/samples" 7 "$sb")" \
        -v hz="$TICK" -v n="$sn" 'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / hz / n }')
    rss_mb=$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')
    ncpu_us=$(awk -v t="$nticks" -v hz="$TICK" -v n="$d" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    echo "  $d deliveries in $dur s from first to last ($avg/s overall)"
    echo "  steady rate (middle 80%, from nginx's access log): $steady deliveries/s"
    lim=""
    [ "$mode" != rss ] && eval "lim=\${${pfx}LIMIT_$k:-}"
    what=HTTP
    [ "$mode" = https ] && what=HTTPS
    [ -n "$lim" ] && echo "  = x$(awk -v r="$steady" -v l="$lim" 'BEGIN { printf "%.2f", r / l }') the $what limit" \
        "(wrk, $lim/s; target >= x$TARGET_RATIO)"
    echo "  bridge CPU: $(awk -v t="$ticks" -v hz="$TICK" 'BEGIN { printf "%.2f", t / hz }') s" \
        "= $cpu_us us/delivery over the whole run, $cpus_us us in the steady phase; nginx workers: $ncpu_us us/delivery"
    echo "  steady phase: machine busy ${busy:-?}% of $NPROC CPUs; mock cluster ${mcpus_us:-?} us/delivery"
    [ "$mode" = rss ] || eval "${pfx}BUSY_$k=\${busy:-} ${pfx}MOCKCPU_$k=\${mcpus_us:-}"
    echo "  100 ms intervals with no delivery in the steady phase: $empty of $inside" \
        "(series: $D/series-100ms.txt)"
    echo "  bridge peak RSS (VmHWM) $rss_mb MB (VmRSS at the end $((rss / 1024)) MB);" \
        "peak open connections at nginx $peak$([ "$mode" = rss ] && echo "; most in flight seen $peak_if")"
    echo "  bridge CPU by thread (name/tid ticks of 1/$TICK s): $(head -6 "$D/threads" |
        awk -F'\t' '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')"
    sys="" syss=""
    if [ -n "$withperf" ]; then
        # perf's interval lines: "seconds since PERF_T0,count,,event,...";
        # an interval is in the steady phase when it ends inside it.
        read -r sys syss <<EOF_S
$(awk -F, -v t0="$PERF_T0" -v a="$sa" -v b="$sb" -v n="$d" -v sn="$sn" '
    /^#/ || NF < 4 || $2 !~ /^[0-9]+$/ { next }
    { all += $2; e = t0 + $1; if (e > a + 0.1 && e <= b) st += $2 }
    END { if (all == 0) { print "- -"; exit }
          printf "%.1f %.1f\n", all / n, (sn > 0 ? st / sn : 0) }' "$D/syscalls.csv")
EOF_S
        if [ "$sys" = - ]; then
            echo "  syscalls: perf stat counted nothing (see $D/syscalls.csv)"
            sys="" syss=""
        else
            echo "  syscalls per delivery (perf stat, raw_syscalls:sys_enter): $sys over the whole run" \
                "(from ready), $syss in the steady phase"
        fi
    fi
    conns="" hs=""
    if [ "$mode" != rss ]; then
        conn_stats "$base/$tag" >"$D/conns"
        read -r _ conns _ full _ resumed _ <"$D/conns"
        if [ "$mode" = https ]; then
            hs=$(awk -v c="$conns" -v n="$logged" 'BEGIN { printf "%.4f", (n > 0 ? c / n : 0) }')
            tls=$(sed -n 's/^tls //p' "$D/conns")
            echo "  TLS: $conns connections carried the $logged deliveries ($full full handshakes, $resumed resumptions):" \
                "$hs handshakes per delivery; negotiated: $tls"
            # For the summary: the protocols and ciphers of every https run.
            TLS_NEGOTIATED=$(printf '%s\n' "$TLS_NEGOTIATED" "$tls" | tr ';' '\n' |
                sed 's/ *(.*$//; s/^ *//; /^$/d' | sort -u | paste -sd, - | sed 's/,/, /g')
        else
            echo "  $conns connections carried the $logged deliveries (nginx's \$connection)"
        fi
    fi
    plot "$D" "${VERSION%% (*}: $nev events of $SIZE B, K=$k${pfx:+, HTTPS}, max_in_flight $([ "$mode" = rss ] && echo "$RSS_MAX_IN_FLIGHT" || echo "${MAX_IN_FLIGHT:-1024}"), attempts log $ATTEMPTS_LOG"
    [ -z "$PERF" ] || perf_summary "$D"
    if [ "$mode" = rss ]; then
        RSS10K=$rss_mb RSS10K_INFLIGHT=$peak_if
        return 0
    fi
    eval "${pfx}RATE_$k=$steady ${pfx}CPU_$k=$cpu_us ${pfx}CPUS_$k=$cpus_us ${pfx}RSS_$k=$rss_mb"
    eval "${pfx}PEAKCONN_$k=$peak ${pfx}EMPTY_$k=$empty ${pfx}SYS_$k=$sys ${pfx}SYSS_$k=$syss"
    eval "${pfx}NGINXCPU_$k=$ncpu_us"
    if [ "$mode" = https ]; then
        eval "HHS_$k=$hs HCONN_$k='$conns ($full full handshakes, $resumed resumed)'"
    else
        eval "CONN_$k=$conns"
    fi
}

# ---- latency ------------------------------------------------------------

# latency K: sets P50_K, P99_K, MAX_K.
latency() {
    k=$1
    D=$T/latency-k$k
    mkdir -p "$D"
    count=$((RATE * LAT_SECS))
    total=$((count * k))
    say "latency, K=$k: $RATE events/s for $LAT_SECS s into an idle bridge"
    start_cluster "$D"
    if [ "$FETCH_WAIT_MS" -gt 0 ]; then
        write_conf "$D/bridge.conf" "$k" "fetch.wait.max.ms=$FETCH_WAIT_MS"
        echo "  consumer fetch.wait.max.ms=$FETCH_WAIT_MS (the mock cluster holds an empty fetch for all of it)"
    else
        write_conf "$D/bridge.conf" "$k"
    fi
    status || die "nginx /status failed"
    r0=$REQS
    start_bridge "$D"
    wait_until 60 grep -q '"partitions assigned","consumer":"events"' "$D/bridge.log" ||
        die "the bridge got no partitions within 60 s (see $D/bridge.log)"
    sleep 1
    "$HELPERS/loadgen" --bootstrap "$BOOT" --topic subscription-events --count "$count" \
        --rate "$RATE" $SHAPE --accounts "$ACCOUNTS" >"$D/loadgen.out" 2>"$D/loadgen.err" ||
        die "loadgen failed: $(cat "$D/loadgen.err")"
    sed -n 's/^loadgen: produced/  loadgen: produced/p' "$D/loadgen.out"
    polls=0
    # shellcheck disable=SC2317
    delivered() {
        status || return 1
        polls=$((polls + 1))
        [ $((REQS - r0 - polls)) -ge "$total" ]
    }
    wait_until 60 delivered || die "not every delivery arrived within 60 s (see $D/bridge.log)"
    stop_bridge "$D"
    stop "$MOCK_PID" 10
    n=$(final_stats "$D" .delivery_latency.count)
    [ "$n" = "$total" ] || echo "  WARNING: $n latency observations, not $total"
    p50=$(final_stats "$D" '.delivery_latency.p50 | . * 10 | round / 10')
    p99=$(final_stats "$D" '.delivery_latency.p99 | . * 10 | round / 10')
    max=$(final_stats "$D" .delivery_latency.max)
    echo "  delivery_latency over $n deliveries: p50 $p50 ms, p99 $p99 ms, max $max ms"
    echo "  (quantiles estimated from the histogram's fixed buckets 1,2,3,5,7,10,15,20,30,50.. ms)"
    eval "P50_$k=$p50 P99_$k=$p99 MAX_$k=$max"
}

# ---- curlloop: the bridge beside a bare libcurl loop (issue 10) -----------

# bare NAME CMD...: runs CMD, a client POSTing to nginx (stdout in
# $T/curlloop/NAME.out), under perf stat counting its syscalls and its CPU
# (task-clock) unless BENCH_SYSCALLS=off, with the machine's jiffies and
# nginx's CPU sampled around it.  Sets B_REQS (the requests nginx counted),
# B_SECS, B_SYS and B_CPU (per request; empty without perf), B_BUSY (% of
# the machine's CPUs) and B_NGINX (nginx's CPU us per request).  With
# BENCH_PERF=1, CMD runs a second time under perf record -g, for
# perf_summary in $T/curlloop/NAME/.
bare() {
    name=$1
    shift
    bd=$T/curlloop
    status || die "nginx /status failed"
    r0=$REQS
    m0=$(machine_jiffies)
    n0=$(nginx_ticks)
    t0=$(now)
    if [ "$SYSCALLS" = on ]; then
        perf stat -x, -e raw_syscalls:sys_enter -e task-clock -o "$bd/$name.perf-stat.csv" -- \
            "$@" >"$bd/$name.out" 2>"$bd/$name.err" || die "$name failed (see $bd/$name.err)"
    else
        "$@" >"$bd/$name.out" 2>"$bd/$name.err" || die "$name failed (see $bd/$name.err)"
    fi
    t1=$(now)
    m1=$(machine_jiffies)
    n1=$(nginx_ticks)
    status || die "nginx /status failed"
    B_REQS=$((REQS - r0 - 1))
    B_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    B_BUSY=$(echo "$m0 $m1" | awk '{ if ($4 > $2) printf "%.0f", ($3 - $1) * 100 / ($4 - $2) }')
    B_NGINX=$(awk -v t=$((n1 - n0)) -v hz="$TICK" -v n="$B_REQS" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n }')
    B_SYS="" B_CPU=""
    if [ "$SYSCALLS" = on ]; then
        read -r B_SYS B_CPU <<EOF_B
$(awk -F, -v n="$B_REQS" '$3 == "raw_syscalls:sys_enter" { s = $1 } $3 == "task-clock" { c = $1 }
    END { if (n > 0) printf "%.1f %.1f\n", s / n, c * 1000 / n }' "$bd/$name.perf-stat.csv")
EOF_B
    fi
    if [ -n "$PERF" ]; then
        mkdir -p "$bd/$name"
        perf record -e cpu-clock --call-graph dwarf -F 499 -o "$bd/$name/perf.data" -- "$@" \
            >"$bd/$name/perf.log" 2>&1 || die "$name under perf record failed (see $bd/$name/perf.log)"
        perf_summary "$bd/$name"
    fi
}

# curlloop_run: the bridge's floor on libcurl, measured beside it: a bare
# libcurl loop (tests/helpers/curlloop: 2 threads as the bridge's workers,
# each its own multi handle on epoll, endpoint_max_in_flight/2 transfers
# each, keep-alive, the bridge's options and headers) POSTs the run's event
# N times to the same nginx, then wrk the same for CL_WRK_SECS s (not wrk's
# limit run: this one is counted like the others); each through bare.  Sets
# CL_RATE_x, CL_CPU_x, CL_SYS_x, CL_BUSY_x, CL_NGINX_x, CL_CONNS_x for x in
# loop (curlloop), perform (curlloop --perform, with BENCH_CURLLOOP_PERFORM=1)
# and wrk.
curlloop_run() {
    bd=$T/curlloop
    mkdir -p "$bd"
    say "curlloop: a bare libcurl loop beside the bridge: $N POSTs of the run's event to the same nginx"
    if [ ! -s "$T/body.event" ]; then
        # Without a throughput run: a real event of this run's shape.
        start_cluster "$bd"
        "$HELPERS/loadgen" --bootstrap "$BOOT" --topic subscription-events --count 1000 \
            $SHAPE --accounts "$ACCOUNTS" >"$bd/loadgen.out" 2>"$bd/loadgen.err" ||
            die "loadgen failed: $(cat "$bd/loadgen.err")"
        event_body "$bd"
        stop "$MOCK_PID" 10
    fi
    th=2
    c=$((EP_MAX / th))
    [ "$c" -ge 1 ] || c=1
    modes=loop
    [ -n "${BENCH_CURLLOOP_PERFORM:-}" ] && modes="loop perform"
    for m in $modes; do
        flag=""
        [ "$m" = perform ] && flag=--perform
        bare "curlloop-$m" "$HELPERS/curlloop" -t $th -c $c -n "$N" $flag "$T/body.event" \
            "http://127.0.0.1:$NPORT/hook/curlloop-$m/1"
        out=$(cat "$T/curlloop/curlloop-$m.out")
        rate=$(echo "$out" | awk '{ for (i = 1; i < NF; i++) if ($i == "requests/s") print $(i + 1) }')
        own=$(echo "$out" | awk '{ for (i = 1; i < NF; i++) if ($i == "cpu_us/request") print $(i + 1) }')
        conns=$(echo "$out" | awk '{ for (i = 1; i < NF; i++) if ($i == "connects") print $(i + 1) }')
        [ "$B_REQS" -eq "$N" ] || echo "  WARNING: nginx counted $B_REQS requests, not $N"
        echo "  $out"
        pcpu=""
        [ -n "$B_CPU" ] && pcpu=" / $B_CPU (perf stat task-clock)"
        echo "  curlloop${flag:+ $flag}: $rate requests/s, CPU $own us/request (its getrusage)$pcpu," \
            "${B_SYS:-?} syscalls/request," \
            "machine busy ${B_BUSY:-?}% of $NPROC CPUs, nginx ${B_NGINX:-?} us/request, $conns connections"
        eval "CL_RATE_$m=\$rate CL_CPU_$m=\${B_CPU:-\$own} CL_SYS_$m=\$B_SYS CL_BUSY_$m=\$B_BUSY"
        eval "CL_NGINX_$m=\$B_NGINX CL_CONNS_$m=\$conns"
    done
    if [ "$WRK_SECS" -gt 0 ] && [ "$CL_WRK_SECS" -gt 0 ]; then
        wrk_script
        bare wrk wrk -t "$WRK_THREADS" -c "$EP_MAX" -d "${CL_WRK_SECS}s" -s "$T/wrk-post.lua" \
            "http://127.0.0.1:$NPORT/hook/curlloop-wrk/1"
        grep -q 'Non-2xx' "$bd/wrk.out" && die "nginx answered wrk with non-2xx (see $bd/wrk.out)"
        rate=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$bd/wrk.out")
        echo "  wrk -t$WRK_THREADS -c$EP_MAX -d${CL_WRK_SECS}s: $rate requests/s, $B_REQS requests," \
            "CPU ${B_CPU:-?} us/request (perf stat task-clock), ${B_SYS:-?} syscalls/request," \
            "machine busy ${B_BUSY:-?}%, nginx ${B_NGINX:-?} us/request"
        CL_RATE_wrk=$rate CL_CPU_wrk=$B_CPU CL_SYS_wrk=$B_SYS CL_BUSY_wrk=$B_BUSY
        CL_NGINX_wrk=$B_NGINX CL_CONNS_wrk=$EP_MAX
    fi
}

# ---- isolation (issue 9) ------------------------------------------------

# admin_of DIR: the bridge's admin address, from its ready line.
admin_of() {
    grep '"msg":"ready"' "$1/bridge.log" | tail -1 | sed -n 's/.*"admin":"\([^"]*\)".*/\1/p'
}

# healthy_quantiles METRICS-FILE: "p50 p99 n above" of delivery_latency
# over its buckets up to 5 s (n observations), interpolated within a bucket
# as metrics.c does; "above" counts the observations over 5 s.
healthy_quantiles() {
    sed -n 's/^webhook_bridge_delivery_latency_seconds_bucket{le="\([^"]*\)"} \([0-9.e+]*\)$/\1 \2/p' "$1" |
        awk '{ le = $1 == "+Inf" ? -1 : $1 * 1000; cum = $2 + 0
               if (le >= 0 && le <= 5000) { n++; hi[n] = le; c[n] = cum - prev; prev = cum; total = cum }
               if (le < 0) all = cum }
             function q(x,   r, seen, i, lo) {
                 r = x * total; seen = 0; lo = 0
                 for (i = 1; i <= n; i++) {
                     if (c[i] > 0 && seen + c[i] >= r) return lo + (hi[i] - lo) * (r - seen) / c[i]
                     seen += c[i]; lo = hi[i]
                 }
                 return -1
             }
             END { printf "%.1f %.1f %d %d\n", q(0.5), q(0.99), total, all - total }'
}

# slow_receiver: webhook-bridge receive answering 200 after SLOW_MS to every
# POST, a thread per connection; sets SLOW_RPORT.
slow_receiver() {
    rm -f "$T/slow.port"
    "$BIN" receive --listen 127.0.0.1:0 --port-file "$T/slow.port" --delay "$SLOW_MS" \
        >"$T/slow-receiver.out" 2>"$T/slow-receiver.err" &
    SLOW_PID=$!
    PIDS="$PIDS $SLOW_PID"
    wait_until 10 test -s "$T/slow.port" || die "the slow receiver did not start (see $T/slow-receiver.err)"
    SLOW_RPORT=$(cat "$T/slow.port")
}

# iso_drain MODE (without|with): sets ISO_RATE_<MODE> (the healthy
# endpoint's steady deliveries/s draining ISO_N preloaded events).
iso_drain() {
    mode=$1
    D=$T/isolation-drain-$mode
    mkdir -p "$D"
    say "isolation, drain, $mode the slow endpoint: $ISO_N events preloaded"
    # Twice the partitions on the delay topics: the parked deliveries (the
    # event and ~0.5 KiB more each) must fit the mock's ~5 MiB a partition.
    start_cluster "$D" $((PARTS * 2))
    "$HELPERS/loadgen" --bootstrap "$BOOT" --topic subscription-events --count "$ISO_N" \
        $SHAPE --accounts "$ACCOUNTS" >"$D/loadgen.out" 2>"$D/loadgen.err" ||
        die "preloading with loadgen failed: $(cat "$D/loadgen.err")"
    SLOW_PORT=""
    [ "$mode" = with ] && SLOW_PORT=$SLOW_RPORT
    write_conf "$D/bridge.conf" 1
    s0=$(lines_of "$T/slow-receiver.out")
    status || die "nginx /status failed"
    r0=$REQS
    polls=0
    start_bridge "$D"
    : >"$D/samples"
    limit=$(($(date +%s) + 120 + ISO_N / 1000))
    cpu0=""
    while :; do
        status || die "nginx /status failed during the run"
        polls=$((polls + 1))
        d=$((REQS - r0 - polls))
        echo "$(now) $d $(curl -s --max-time 1 "http://$(admin_of "$D")/metrics" |
            awk '$1 == "webhook_bridge_in_flight" || $1 == "webhook_bridge_producer_queue" { printf "%s ", $2 }
                 /^webhook_bridge_partitions\{consumer="events",state="backpressure"\}/ { printf "bp=%s ", $2 }')" >>"$D/samples"
        # The drain's CPU account starts at its first delivery.
        [ -z "$cpu0" ] && [ "$d" -gt 0 ] && cpu0="$d $(drain_cpu)"
        [ "$d" -ge "$ISO_N" ] && break
        alive "$BPID" || die "the bridge died during the run (see $D/bridge.log)"
        [ "$(date +%s)" -lt "$limit" ] || die "only $d of $ISO_N healthy deliveries after the time limit"
        sleep 0.2
    done
    cpu1="$d $(drain_cpu)"
    curl -sf "http://$(admin_of "$D")/metrics" >"$D/metrics" || die "no /metrics from the bridge"
    ticks=$(cpu_ticks "$BPID")
    mticks=$(cpu_ticks "$MOCK_PID")
    for task in /proc/"$BPID"/task/*; do
        printf '%s\t%s/%s\n' "$(cpu_ticks "${task#/proc/}")" "$(tr -d '\t' <"$task/comm")" \
            "${task##*/}"
    done | sort -rn >"$D/threads"
    stop_bridge "$D"
    stop "$MOCK_PID" 10
    awk '{ t[NR] = $1; d[NR] = $2 }
        END {
            for (i = 1; i <= NR && d[i] == 0; i++) ;
            s = i; e = NR; dur = t[e] - t[s]
            if (dur <= 0) { print 0; exit }
            a = t[s] + 0.1 * dur; b = t[e] - 0.1 * dur
            printf "%.0f\n", (at(b) - at(a)) / (b - a)
        }
        function at(x,   i) {
            for (i = s; i < e && t[i + 1] < x; i++) ;
            return d[i] + (d[i + 1] - d[i]) * (x - t[i]) / (t[i + 1] - t[i])
        }' "$D/samples" >"$D/rate"
    r=$(cat "$D/rate")
    # By count: the rate from the 20% to the 90% delivery.  A slow endpoint
    # is recognised only once its attempts have run for slow_answer / 10
    # (admission.c): until then its deliveries wait in the budget, and the
    # drain stalls for about a second near its start (the samples' third
    # column, in_flight, shows it), which the time-based middle 80% of a
    # few-second drain keeps and this rate leaves out.
    r2=$(awk -v n="$ISO_N" '{ t[NR] = $1; d[NR] = $2 }
        END { a = at(0.2 * n); b = at(0.9 * n); if (b <= a) { print 0; exit }
              printf "%.0f\n", 0.7 * n / (b - a) }
        function at(c,   i) {
            for (i = 1; i < NR && d[i + 1] < c; i++) ;
            if (d[i + 1] == d[i]) return t[i]
            return t[i] + (t[i + 1] - t[i]) * (c - d[i]) / (d[i + 1] - d[i])
        }' "$D/samples")
    isolated=$(sed -n 's/^webhook_bridge_deliveries_isolated_total{reason="\([a-z]*\)"} \(.*\)/\1 \2/p' "$D/metrics" |
        awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
    echo "  healthy endpoint: $d deliveries, steady rate (middle 80%) $r/s, from the 20% to the 90% delivery $r2/s; bridge CPU" \
        "$(awk -v t="$ticks" -v hz="$TICK" -v n="$ISO_N" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }') us per event," \
        "mock cluster $(awk -v t="$mticks" -v hz="$TICK" -v n="$ISO_N" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }') us"
    echo "  bridge CPU by thread (name/tid ticks of 1/$TICK s): $(head -6 "$D/threads" |
        awk -F'\t' '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')"
    # From the first healthy delivery to the last: the machine's busy share
    # of its CPUs and each process's CPU per healthy delivery.  When the
    # machine is saturated both ways, the drain's rate is set by the CPU an
    # event costs all of them together.
    # shellcheck disable=SC2086
    acct=$(echo $cpu0 $cpu1 | awk -v hz="$TICK" -v ncpu="$NPROC" '{
        n = $7 - $1; busy = ($8 - $2) / ($9 - $3); if (n <= 0) n = 1
        b = ($10 - $4) * 1e6 / hz / n; m = ($11 - $5) * 1e6 / hz / n; x = ($12 - $6) * 1e6 / hz / n
        printf "%.0f %.1f %.1f %.1f %.1f", busy * 100, b, m, x, b + m + x }')
    read -r busy cb cm cn ct <<EOF_A
$acct
EOF_A
    echo "  drain: machine busy $busy% of $NPROC CPUs; CPU per healthy delivery: bridge $cb us," \
        "mock cluster $cm us, nginx $cn us, together $ct us"
    [ "$mode" = with ] &&
        echo "  slow endpoint: $(($(lines_of "$T/slow-receiver.out") - s0)) requests received; deferred to isolate it: $isolated"
    eval "ISO_RATE_$mode=$r ISO_RATE2_$mode=$r2 ISO_BUSY_$mode=$busy ISO_CPU_$mode=$ct ISO_MOCK_$mode=$cm ISO_BRIDGE_$mode=$cb"
}

# iso_rate MODE: RATE events/s for LAT_SECS s; sets ISO_TPUT_<MODE> (the
# healthy endpoint's deliveries over the time from the first event sent to
# its last delivery), ISO_P50_<MODE>, ISO_P99_<MODE>.
iso_rate() {
    mode=$1
    D=$T/isolation-rate-$mode
    mkdir -p "$D"
    count=$((RATE * LAT_SECS))
    say "isolation, $RATE events/s for $LAT_SECS s, $mode the slow endpoint"
    start_cluster "$D" "$PARTS"
    SLOW_PORT=""
    [ "$mode" = with ] && SLOW_PORT=$SLOW_RPORT
    if [ "$FETCH_WAIT_MS" -gt 0 ]; then
        write_conf "$D/bridge.conf" 1 "fetch.wait.max.ms=$FETCH_WAIT_MS"
    else
        write_conf "$D/bridge.conf" 1
    fi
    s0=$(lines_of "$T/slow-receiver.out")
    status || die "nginx /status failed"
    r0=$REQS
    start_bridge "$D"
    wait_until 60 grep -q '"partitions assigned","consumer":"events"' "$D/bridge.log" ||
        die "the bridge got no partitions within 60 s (see $D/bridge.log)"
    sleep 1
    polls=0
    t0=$(now)
    "$HELPERS/loadgen" --bootstrap "$BOOT" --topic subscription-events --count "$count" \
        --rate "$RATE" $SHAPE --accounts "$ACCOUNTS" >"$D/loadgen.out" 2>"$D/loadgen.err" ||
        die "loadgen failed: $(cat "$D/loadgen.err")"
    # shellcheck disable=SC2317
    delivered() {
        status || return 1
        polls=$((polls + 1))
        [ $((REQS - r0 - polls)) -ge "$count" ]
    }
    wait_until 120 delivered || die "the healthy endpoint did not get its $count deliveries within 120 s (see $D/bridge.log)"
    t1=$(now)
    curl -sf "http://$(admin_of "$D")/metrics" >"$D/metrics" || die "no /metrics from the bridge"
    stop_bridge "$D"
    stop "$MOCK_PID" 10
    read -r p50 p99 n above <<EOF_Q
$(healthy_quantiles "$D/metrics")
EOF_Q
    tput=$(awk -v n="$count" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    echo "  healthy endpoint: $count deliveries in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" \
        "from the first event sent = $tput/s; latency over $n deliveries: p50 $p50 ms, p99 $p99 ms"
    if [ "$mode" = with ]; then
        echo "  slow endpoint: $(($(lines_of "$T/slow-receiver.out") - s0)) requests received;" \
            "$above first attempts answered 2xx after 5 s or more (left out of the quantiles)"
    fi
    eval "ISO_TPUT_$mode=$tput ISO_P50_$mode=$p50 ISO_P99_$mode=$p99"
}

lines_of() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# machine_jiffies: "busy total" jiffies of all CPUs now (/proc/stat).
machine_jiffies() {
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

# drain_cpu: "busy total bridge mock nginx" ticks now: the machine's busy and
# total jiffies (/proc/stat, all CPUs), and the three processes' CPU.
drain_cpu() {
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat |
        tr '\n' ' '
    echo "$(cpu_ticks "$BPID") $(cpu_ticks "$MOCK_PID") $(nginx_ticks)"
}

for k in $KS; do
    case "$k" in '' | *[!0-9]*) die "BENCH_ENDPOINTS must list integers" ;; esac
    eval "RATE_$k='' CPU_$k='' CPUS_$k='' RSS_$k='' PEAKCONN_$k='' P50_$k='' P99_$k=''"
    eval "LIMIT_$k='' EMPTY_$k='' SYS_$k='' SYSS_$k=''"
    eval "HRATE_$k='' HCPU_$k='' HCPUS_$k='' HRSS_$k='' HPEAKCONN_$k='' HLIMIT_$k='' HEMPTY_$k=''"
    eval "HSYS_$k='' HSYSS_$k='' HHS_$k='' HCONN_$k='' CONN_$k='' NGINXCPU_$k='' HNGINXCPU_$k='' BUSY_$k=''"
done
TLS_NEGOTIATED=""
PLOTS=""
RSS10K="" RSS10K_INFLIGHT=""
case " $RUNS " in *" throughput "*) for k in $KS; do throughput "$k"; done ;; esac
for m in loop perform wrk; do
    eval "CL_RATE_$m='' CL_CPU_$m='' CL_SYS_$m='' CL_BUSY_$m='' CL_NGINX_$m='' CL_CONNS_$m=''"
done
case " $RUNS " in *" curlloop "*) curlloop_run ;; esac
case " $RUNS " in *" https "*) for k in $KS; do throughput "$k" https; done ;; esac
case " $RUNS " in *" rss "*) throughput 1 rss ;; esac
case " $RUNS " in *" latency "*) for k in $KS; do latency "$k"; done ;; esac
ROUTING=""
case " $RUNS " in *" routing "*)
    say "routing: registry_match with 10 and with 100,000 endpoints (tests/helpers/routebench)"
    ROUTING=$("$HELPERS/routebench") || die "routebench failed"
    echo "$ROUTING" | sed 's/^/  /'
    ;;
esac
case " $RUNS " in *" records "*)
    say "records: the JSON work of one delivery, call by call (tests/helpers/recordbench)"
    RECORDS=$("$HELPERS/recordbench") || die "recordbench failed"
    echo "$RECORDS" | sed 's/^/  /'
    ;;
esac
ISO_RATE_without='' ISO_RATE_with='' ISO_TPUT_without='' ISO_TPUT_with=''
ISO_P50_without='' ISO_P50_with='' ISO_P99_without='' ISO_P99_with=''
ISO_BUSY_without='' ISO_BUSY_with='' ISO_RATE2_without='' ISO_RATE2_with='' ISO_CPU_without='' ISO_CPU_with=''
ISO_MOCK_without='' ISO_MOCK_with='' ISO_BRIDGE_without='' ISO_BRIDGE_with=''
case " $RUNS " in *" isolation "*)
    slow_receiver
    for mode in ${BENCH_ISOLATION_MODES:-without with}; do iso_drain $mode; done
    for mode in ${BENCH_ISOLATION_MODES:-without with}; do iso_rate $mode; done
    stop "$SLOW_PID" 10
    ;;
esac
stop "$NGINX_PID" 10

# ---- results ------------------------------------------------------------

verdict() { # VALUE OP TARGET: "VALUE ok", "VALUE MISSED" or "not run"
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
        if (v == "" || v == "null") { print "not run"; exit }
        ok = op == ">=" ? v + 0 >= t : v + 0 <= t
        print v (ok ? " ok" : " MISSED") }'
}
rows() { # the table, tab-separated: a header, then one row per figure
    # (an HTTPS row, from the https run, under each HTTP one)
    v="" l="" pc=""
    printf 'N=%s events of %s B, %s partitions, HTTP (HTTPS: the https run)' "$N" "$SIZE" "$PARTS"
    for k in $KS; do printf '\tK=%s endpoint(s)/event' "$k"; done
    printf '\ttarget (issue 10)\n'
    row() { # LABEL VAR OP TARGET TARGET-TEXT: one figure per K
        printf '%s' "$1"
        for k in $KS; do
            eval "v=\${$2_$k:-}"
            if [ -n "$3" ]; then printf '\t%s' "$(verdict "$v" "$3" "$4")"; else printf '\t%s' "${v:-not run}"; fi
        done
        printf '\t%s\n' "$5"
    }
    row 'HTTP limit: wrk requests/s (same nginx, body, connections)' LIMIT '' '' ''
    row 'HTTPS limit: wrk requests/s (same, over the ssl listener)' HLIMIT '' '' ''
    row 'steady deliveries/s (middle 80%)' RATE '' '' ''
    row 'HTTPS: steady deliveries/s (middle 80%)' HRATE '' '' ''
    ratio_row() { # LABEL PREFIX: the steady rate over the limit of its run
        printf '%s' "$1"
        for k in $KS; do
            eval "v=\${$2RATE_$k:-} l=\${$2LIMIT_$k:-}"
            printf '\t%s' "$(verdict "$(awk -v r="$v" -v l="$l" 'BEGIN { if (r != "" && l + 0 > 0) printf "%.2f", r / l }')" '>=' $TARGET_RATIO)"
        done
        printf '\t>= %s\n' $TARGET_RATIO
    }
    ratio_row 'steady rate / HTTP limit' ''
    ratio_row 'HTTPS: steady rate / HTTPS limit' H
    row 'bridge CPU us/delivery, steady phase' CPUS '<=' $TARGET_CPU_US "<= $TARGET_CPU_US"
    row 'HTTPS: bridge CPU us/delivery, steady phase' HCPUS '<=' $TARGET_CPU_US "<= $TARGET_CPU_US"
    row 'bridge CPU us/delivery, whole run' CPU '' '' ''
    row "steady phase: machine busy, % of $NPROC CPUs (bridge, nginx, mock cluster)" BUSY '' '' ''
    row "HTTPS: steady phase: machine busy, % of $NPROC CPUs" HBUSY '' '' ''
    row 'steady phase: mock cluster CPU us/delivery' MOCKCPU '' '' ''
    row 'HTTPS: bridge CPU us/delivery, whole run' HCPU '' '' ''
    # What TLS costs the bridge per delivery with keep-alive.
    printf 'HTTPS - HTTP: bridge CPU us/delivery, steady phase'
    for k in $KS; do
        eval "v=\${HCPUS_$k:-} l=\${CPUS_$k:-}"
        printf '\t%s' "$(awk -v h="$v" -v p="$l" 'BEGIN { if (h == "" || p == "") print "not run"; else printf "%+.1f\n", h - p }')"
    done
    printf '\t\n'
    row 'empty 100 ms intervals, steady phase' EMPTY '<=' $TARGET_EMPTY "$TARGET_EMPTY"
    row 'HTTPS: empty 100 ms intervals, steady phase' HEMPTY '<=' $TARGET_EMPTY "$TARGET_EMPTY"
    row 'syscalls/delivery, steady phase (perf stat)' SYSS '' '' ''
    row 'HTTPS: syscalls/delivery, steady phase (perf stat)' HSYSS '' '' ''
    row 'syscalls/delivery, whole run (perf stat)' SYS '' '' ''
    row 'HTTPS: syscalls/delivery, whole run (perf stat)' HSYS '' '' ''
    rss_row() { # LABEL PREFIX
        printf '%s' "$1"
        for k in $KS; do
            eval "v=\${$2RSS_$k:-} pc=\${$2PEAKCONN_$k:-}"
            printf '\t%s%s' "${v:-not run}" "${pc:+ ($pc)}"
        done
        printf '\t\n'
    }
    rss_row 'peak RSS MB, default max_in_flight (open connections at peak)' ''
    rss_row 'HTTPS: peak RSS MB, default max_in_flight (open connections at peak)' H
    row "connections that carried the deliveries (nginx's \$connection)" CONN '' '' ''
    row 'HTTPS: TLS connections that carried the deliveries' HCONN '' '' ''
    row 'HTTPS: TLS handshakes per delivery (connections / deliveries)' HHS '' '' '~0 with keep-alive'
    printf 'peak RSS MB, max_in_flight %s (rss run, K=1; most in flight seen)' "$RSS_MAX_IN_FLIGHT"
    for k in $KS; do
        if [ "$k" = 1 ]; then
            printf '\t%s%s' "$(verdict "$RSS10K" '<=' $TARGET_RSS_MB)" "${RSS10K_INFLIGHT:+ ($RSS10K_INFLIGHT)}"
        else printf '\t'; fi
    done
    printf '\t<= %s with 10,000 in flight\n' $TARGET_RSS_MB
    row "p50 latency ms at $RATE events/s" P50 '' '' ''
    row "p99 latency ms at $RATE events/s" P99 '<=' $TARGET_P99_MS "<= $TARGET_P99_MS"
}
# iso_rows: the isolation table, tab-separated, when it was run.
iso_rows() {
    printf 'healthy endpoint (issue 9, slow one: 2xx after %s ms, half the deliveries)\twithout the slow endpoint\twith it\ttarget\n' "$SLOW_MS"
    printf 'steady deliveries/s, draining %s events\t%s\t%s\t%s\n' "$ISO_N" "$ISO_RATE_without" \
        "$(ratio "$ISO_RATE_with" "$ISO_RATE_without" 0.9 '>=')" 'within 10%'
    printf 'deliveries/s, draining %s events, from the 20%% to the 90%% delivery\t%s\t%s\t%s\n' "$ISO_N" \
        "$ISO_RATE2_without" "$(ratio "$ISO_RATE2_with" "$ISO_RATE2_without" 0.9 '>=')" 'within 10%'
    printf 'drain: machine busy, %% of %s CPUs\t%s\t%s\t\n' "$NPROC" "$ISO_BUSY_without" "$ISO_BUSY_with"
    printf 'drain: CPU us per healthy delivery, bridge + mock cluster + nginx\t%s\t%s\t\n' \
        "$ISO_CPU_without" "$(ratio "$ISO_CPU_with" "$ISO_CPU_without" 1000 '<=' | sed 's/ ok)/)/')"
    printf 'drain: of which bridge / mock cluster\t%s / %s\t%s / %s\t\n' "$ISO_BRIDGE_without" \
        "$ISO_MOCK_without" "$ISO_BRIDGE_with" "$ISO_MOCK_with"
    printf 'deliveries/s at %s events/s\t%s\t%s\t%s\n' "$RATE" "$ISO_TPUT_without" \
        "$(ratio "$ISO_TPUT_with" "$ISO_TPUT_without" 0.9 '>=')" 'within 10%'
    printf 'p50 latency ms at %s events/s\t%s\t%s\t\n' "$RATE" "$ISO_P50_without" "$ISO_P50_with"
    printf 'p99 latency ms at %s events/s\t%s\t%s\t%s\n' "$RATE" "$ISO_P99_without" \
        "$(ratio "$ISO_P99_with" "$ISO_P99_without" 2 '<=')" 'within 2x'
}
# cl_rows: the bridge (throughput, K=1) beside the curlloop run's clients,
# when it was run.
cl_rows() {
    printf 'per request, one endpoint, %s connections, %s B POSTs to the same nginx' "$EP_MAX" "$SIZE"
    printf '\tbridge (throughput K=1, steady phase)\tbare libcurl loop (curlloop)'
    [ -n "$CL_RATE_perform" ] && printf '\tcurlloop --perform'
    printf '\twrk\n'
    cl_row() { # LABEL BRIDGE-VAR CURLLOOP-VAR
        eval "v=\${$2_1:-}"
        printf '%s\t%s' "$1" "${v:-not run}"
        for m in loop perform wrk; do
            [ $m = perform ] && [ -z "$CL_RATE_perform" ] && continue
            eval "v=\${$3_$m:-}"
            printf '\t%s' "${v:-not run}"
        done
        printf '\n'
    }
    cl_row 'requests/s (bridge: steady deliveries/s)' RATE CL_RATE
    cl_row 'CPU us per request (bridge: steady phase; others: perf stat task-clock)' CPUS CL_CPU
    cl_row 'syscalls per request (perf stat)' SYSS CL_SYS
    cl_row "machine busy, % of $NPROC CPUs" BUSY CL_BUSY
    cl_row 'nginx CPU us per request (bridge: whole run)' NGINXCPU CL_NGINX
    cl_row 'connections' CONN CL_CONNS
}
ratio() { # VALUE BASE LIMIT OP: "VALUE (x0.97 ok)" or "... MISSED"
    awk -v v="$1" -v b="$2" -v l="$3" -v op="$4" 'BEGIN {
        if (v == "" || b == "" || b + 0 == 0) { print v; exit }
        r = v / b; ok = op == ">=" ? r >= l : r <= l
        printf "%s (x%.2f %s)\n", v, r, ok ? "ok" : "MISSED" }'
}
md() { # rows as a Markdown table
    ${1:-rows} | awk -F'\t' '{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
        if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line "---|"; print line } }'
}
txt() { # rows as padded text
    ${1:-rows} | awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
            n = NR; nf = NF }
        END { for (r = 1; r <= n; r++) { line = ""
                for (i = 1; i <= nf; i++) line = line sprintf("%-" w[i] "s  ", c[r, i])
                sub(/ +$/, "", line); print line } }'
}
{
    echo "# webhook-bridge benchmark"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $NPROC CPUs, $CPU_MODEL ($(uname -sr))"
    echo "- bridge: $VERSION"
    echo "- receiver: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: nginx\///'), $NGINX_WORKERS worker(s), answering 204"
    echo "- Kafka: tests/helpers/mockkafka (librdkafka mock cluster), 1 broker, $PARTS partitions;" \
        "events of $(sed -n 's/.*event_bytes=\([0-9]*\).*/\1/p' "$T"/*/loadgen.out 2>/dev/null | head -1) bytes, $ACCOUNTS account keys"
    echo "- load average before the runs: $LOAD0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- bridge: workers=2, max_in_flight=${MAX_IN_FLIGHT:-1024 (default)}, endpoint_max_in_flight=$EP_MAX, attempts log $ATTEMPTS_LOG"
    echo "- HTTP limit: wrk -t$WRK_THREADS -c(endpoint_max_in_flight x K) -d${WRK_SECS}s POSTing a preloaded event to the same nginx, before the bridge's run"
    echo "- steady rate: deliveries in the middle 80% of the time from first to last delivery, from nginx's access log (\$msec)"
    echo "- CPU: bridge utime+stime / deliveries, over the whole run and over the steady phase (ticks sampled every 0.1 s);" \
        "RSS: VmHWM before SIGTERM"
    echo "- syscalls: perf stat -I 100 -e raw_syscalls:sys_enter over the bridge's threads (a counter per syscall entry," \
        "~0.1-0.2 us each, included in the CPU figures of the throughput runs; BENCH_SYSCALLS=$SYSCALLS)"
    if [ -n "$TLS_ON" ]; then
        echo "- HTTPS (the https run): the throughput drain to nginx's ssl listener on the same server (certificate for IP" \
            "127.0.0.1 from a CA made in the log directory, RSA 2048; the bridge verifies it with delivery.ca_file), keep-alive;" \
            "wrk's HTTPS limit over the same listener (wrk does not verify); negotiated by the bridge: ${TLS_NEGOTIATED:-not run}"
    else
        echo "- HTTPS: not run (BENCH_RUNS)"
    fi
    echo "- latency: delivery_latency (record Kafka timestamp -> 2xx), $RATE events/s for $LAT_SECS s," \
        "consumer fetch.wait.max.ms=$([ "$FETCH_WAIT_MS" -gt 0 ] && echo "$FETCH_WAIT_MS" || echo "500 (default)");" \
        "quantiles estimated from fixed buckets"
    echo
    md
    if [ -n "$CL_RATE_loop" ]; then
        echo
        md cl_rows
    fi
    if [ -n "$ISO_RATE_with$ISO_P99_with" ]; then
        echo
        md iso_rows
    fi
    if [ -n "$ROUTING" ]; then
        echo
        echo "$ROUTING" | sed 's/^/- /'
    fi
} >"$RESULTS"

say "results (also in $RESULTS)"
echo "machine: $NPROC CPUs, $CPU_MODEL"
echo "$VERSION"
echo "N=$N events of ~$SIZE bytes, $PARTS partitions; nginx $NGINX_WORKERS worker(s);" \
    "latency at $RATE events/s for $LAT_SECS s (quantiles estimated from fixed histogram buckets)"
echo
txt
if [ -n "$TLS_NEGOTIATED" ]; then
    echo "HTTPS: negotiated by the bridge: $TLS_NEGOTIATED"
fi
if [ -n "$CL_RATE_loop" ]; then
    echo
    txt cl_rows
fi
if [ -n "$ISO_RATE_with$ISO_P99_with" ]; then
    echo
    txt iso_rows
fi
if [ -n "$PLOTS" ]; then
    echo
    echo "deliveries per 100 ms (PNG):"
    for f in $PLOTS; do echo "  $f"; done
fi
echo
echo "logs: $T"
