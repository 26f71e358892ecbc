#!/bin/sh
# A real Apache Kafka cluster (KRaft, no ZooKeeper) for the tests, on
# 127.0.0.1 only, beside the mock cluster of tests/helpers/mockkafka.
#
#   broker.sh start [--nodes 1|3] [--no-auto-create] [--dir DIR]
#       formats the storage, starts the node(s) (each one broker and
#       controller), waits until every broker answers metadata, and prints
#       bootstrap=127.0.0.1:PORT[,...] and pid=PID[,...] (also written to
#       DIR/bootstrap and DIR/pid).  DIR defaults to a new temp dir.
#   broker.sh stop DIR                  SIGTERM, SIGKILL after $KAFKA_STOP_TIMEOUT s
#   broker.sh pause|resume DIR [NODE]   SIGSTOP / SIGCONT
#   broker.sh kill DIR [NODE]           SIGKILL (data dir and ports kept)
#   broker.sh restart DIR [NODE]        stops the node if it runs, starts it again
#                                       on the same data and ports, waits for it
#   broker.sh fetch                     only fetch the jars (prints the lib dir)
# NODE is 1, 2 or 3; without it, every node.
#
# The broker is the Maven artifact pinned in tests/kafka/pom.xml
# (org.apache.kafka:kafka_2.13), fetched once with mvn into Maven's local
# repository and copied to the lib cache $KAFKA_LIB (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/webhook-bridge/kafka-VERSION/lib); once that
# is there, nothing touches the network.  KAFKA_VERSION overrides the pom's
# version (to try another broker), KAFKA_HEAP the heap (default 384m).
#
# Per node, DIR/nodeN/ holds server.properties, data/ (log and metadata
# dirs), server.log (the broker's log4j log), stdout (the JVM's), pid and
# ports.  Settings differ from the broker defaults only to start fast and
# small (few __consumer_offsets and transaction partitions, replication of
# the internal topics fitting the node count, no initial rebalance delay);
# topic defaults (num.partitions, default.replication.factor) are Kafka's.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
POM=$HERE/pom.xml
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-10}
READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-90}

die() {
    echo "broker.sh: $*" >&2
    exit 1
}

pom_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -1; }
VERSION=${KAFKA_VERSION:-$(pom_version)}
[ -n "$VERSION" ] || die "no kafka.version in $POM"
LIB=${KAFKA_LIB:-${XDG_CACHE_HOME:-$HOME/.cache}/webhook-bridge/kafka-$VERSION/lib}

# fetch: the jars into $LIB, unless a complete copy is there.  Maven's local
# repository is tried offline first, so a machine that fetched once never
# needs the network again even when the lib cache was removed.  The copy goes
# to a temp dir renamed into place, so concurrent runs never see half a lib.
fetch() {
    [ -f "$LIB/.complete" ] && return 0
    command -v mvn >/dev/null || die "mvn not found (make deps installs maven)"
    parent=$(dirname "$LIB")
    mkdir -p "$parent" || die "cannot create $parent"
    tmp=$(mktemp -d "$parent/lib.tmp.XXXXXX") || die "cannot create a temp dir in $parent"
    set -- -B -q -f "$POM" -Dkafka.version="$VERSION" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp"
    if ! mvn -o "$@" >"$tmp.log" 2>&1; then
        echo "broker.sh: fetching Apache Kafka $VERSION with mvn (once; cached in $LIB)" >&2
        if ! mvn "$@" >"$tmp.log" 2>&1; then
            cat "$tmp.log" >&2
            rm -rf "$tmp" "$tmp.log"
            die "mvn could not fetch kafka_2.13 $VERSION"
        fi
    fi
    rm -f "$tmp.log"
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar after mvn"
    touch "$tmp/.complete"
    rm -rf "$LIB.old"
    [ -d "$LIB" ] && mv "$LIB" "$LIB.old"
    mv "$tmp" "$LIB" 2>/dev/null || rm -rf "$tmp" # another run won the race
    rm -rf "$LIB.old"
    [ -f "$LIB/.complete" ] || die "no complete lib in $LIB"
}

# free_port: a TCP port no socket uses now, below the kernel's ephemeral
# range (where outgoing connections take theirs: 32768-60999 by default), so
# only another listener can take it before the broker binds; start retries
# with new ports when that happens.  Shell functions share variables:
# helpers name theirs apart from the callers'.
USED_PORTS=""
free_port() {
    fp_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$fp_low" -gt 11000 ] 2>/dev/null || fp_low=32768
    fp_try=0
    while [ $fp_try -lt 200 ]; do
        fp_try=$((fp_try + 1))
        fp=$(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (fp_low - 10000) + 10000))
        case " $USED_PORTS " in *" $fp "*) continue ;; esac
        if [ -z "$(ss -Htan "sport = :$fp" 2>/dev/null)" ]; then
            USED_PORTS="$USED_PORTS $fp"
            echo "$fp"
            return 0
        fi
    done
    die "no free port found"
}

# A KRaft cluster id: 16 random bytes, URL-safe base64 without padding; never
# one starting with "-", which StorageTool's argument parser takes for an
# option ("argument --cluster-id/-t: expected one argument", 1 start in 64).
cluster_id() {
    while :; do
        ci=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
        case $ci in -*) ;; *) echo "$ci" && return 0 ;; esac
    done
}

java_opts() {
    # One small JVM per node on a 2-core machine shared with the suite:
    # serial GC, C1 only (starts faster; throughput is not the point), no
    # perf data file, the class-data archive when the JDK has one.
    echo "-Xms64m -Xmx${KAFKA_HEAP:-384m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
        "-XX:-UsePerfData -Xss512k -Xshare:auto -Djava.awt.headless=true" \
        "-Djava.net.preferIPv4Stack=true"
}

# write_props DIR NODE NODES VOTERS AUTOCREATE
write_props() {
    d=$1/node$2
    port=$(cat "$d/port")
    cport=$(cat "$d/cport")
    if [ "$3" -ge 3 ]; then rf=3 isr=2; else rf=1 isr=1; fi
    cat >"$d/server.properties" <<PROPS
# Written by tests/kafka/broker.sh: node $2 of $3, broker and controller.
process.roles=broker,controller
node.id=$2
controller.quorum.voters=$4
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$d/data
auto.create.topics.enable=$5
# Internal topics: few partitions, replicated as the node count allows.
offsets.topic.num.partitions=4
offsets.topic.replication.factor=$rf
transaction.state.log.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
# A killed node is fenced, and comes back, in seconds rather than 9+ s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# Few threads: the machine is small and shared.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
PROPS
    cat >"$d/log4j.properties" <<L4J
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$d/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log.LogCleaner=WARN
L4J
}

# launch DIR NODE: starts the node's JVM in the background, writes its pid.
launch() {
    d=$1/node$2
    # shellcheck disable=SC2046
    java $(java_opts) -Dlog4j.configuration="file:$d/log4j.properties" \
        -Dkafka.logs.dir="$d" -cp "$LIB/*" kafka.Kafka "$d/server.properties" \
        </dev/null >>"$d/stdout" 2>&1 &
    echo $! >"$d/pid"
}

alive() { kill -0 "$1" 2>/dev/null; }

# brokers_seen BOOTSTRAP: the number of brokers a metadata request lists.
brokers_seen() {
    kcat -L -b "$1" -m 3 2>/dev/null | sed -n 's/^ *\([0-9]*\) brokers:.*/\1/p' | head -1
}

# wait_node DIR NODE NODES: until the node answers metadata listing every
# broker; fails early when its JVM died.
wait_node() {
    d=$1/node$2
    end=$(($(date +%s) + READY_TIMEOUT))
    while :; do
        if ! alive "$(cat "$d/pid")"; then
            tail -20 "$d/stdout" "$d/server.log" >&2 2>/dev/null
            echo "broker.sh: node $2 exited during start-up (logs in $d)" >&2
            return 1
        fi
        n=$(brokers_seen "127.0.0.1:$(cat "$d/port")")
        [ -n "$n" ] && [ "$n" -ge "$3" ] && return 0
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "broker.sh: node $2 not ready after ${READY_TIMEOUT}s (logs in $d)" >&2
            return 1
        fi
        sleep 0.2
    done
}

nodes_of() { cat "$1/nodes" 2>/dev/null || die "$1 is not a broker.sh dir"; }

# select DIR [NODE]: the node numbers a fault command applies to.
select_nodes() {
    n=$(nodes_of "$1")
    if [ -n "${2:-}" ]; then
        [ "$2" -ge 1 ] 2>/dev/null && [ "$2" -le "$n" ] || die "no node $2 (1..$n)"
        echo "$2"
    else
        seq 1 "$n"
    fi
}

# stop_nodes DIR NODE...: SIGTERM to all of them at once (one at a time, the
# last nodes would wait for a controller quorum already gone), then SIGKILL
# to those still running after STOP_TIMEOUT seconds.
stop_nodes() {
    sn_dir=$1
    shift
    sn_pids=""
    for sn in "$@"; do
        sn_pid=$(cat "$sn_dir/node$sn/pid" 2>/dev/null) || continue
        if alive "$sn_pid"; then
            kill -CONT "$sn_pid" 2>/dev/null # a paused JVM cannot handle SIGTERM
            kill -TERM "$sn_pid" 2>/dev/null
            sn_pids="$sn_pids $sn_pid"
        fi
    done
    sn_end=$(($(date +%s) + STOP_TIMEOUT))
    for sn_pid in $sn_pids; do
        while alive "$sn_pid" && [ "$(date +%s)" -lt "$sn_end" ]; do sleep 0.1; done
        if alive "$sn_pid"; then
            echo "broker.sh: pid $sn_pid ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL" >&2
            kill -KILL "$sn_pid" 2>/dev/null
            while alive "$sn_pid"; do sleep 0.05; done
        fi
    done
    for sn in "$@"; do rm -f "$sn_dir/node$sn/pid"; done
}

write_pids() {
    pids=""
    for i in $(seq 1 "$(nodes_of "$1")"); do
        [ -f "$1/node$i/pid" ] && pids="$pids${pids:+,}$(cat "$1/node$i/pid")"
    done
    echo "$pids" >"$1/pid"
}

cmd_start() {
    nodes=1 autocreate=true dir=""
    while [ $# -gt 0 ]; do
        case $1 in
        --nodes) nodes=${2:?--nodes needs 1 or 3}; shift 2 ;;
        --no-auto-create) autocreate=false; shift ;;
        --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
        *) die "start: unknown option $1" ;;
        esac
    done
    case $nodes in 1 | 3) ;; *) die "--nodes must be 1 or 3" ;; esac
    command -v java >/dev/null || die "java not found (make deps installs default-jdk-headless)"
    command -v kcat >/dev/null || die "kcat not found (make deps installs it)"
    fetch
    if [ -z "$dir" ]; then
        dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka.XXXXXX")
    else
        mkdir -p "$dir"
        [ -f "$dir/nodes" ] && die "$dir already holds a cluster (broker.sh stop it, or remove it)"
    fi
    dir=$(cd "$dir" && pwd)
    attempt=1
    while ! start_once "$dir" "$nodes" "$autocreate"; do
        cmd_stop "$dir"
        # A port taken between choosing and binding: again, on new ports.
        grep -qs 'Address already in use' "$dir"/node*/server.log "$dir"/node*/stdout || exit 1
        [ $attempt -ge 3 ] && die "ports taken on 3 attempts"
        echo "broker.sh: a port was taken meanwhile; starting again on new ports" >&2
        attempt=$((attempt + 1))
        rm -rf "${dir:?}"/node* "$dir/nodes" "$dir/pid" "$dir/bootstrap" "$dir/cluster-id"
    done
    echo "dir=$dir"
    echo "bootstrap=$(cat "$dir/bootstrap")"
    echo "pid=$(cat "$dir/pid")"
}

# start_once DIR NODES AUTOCREATE: formats and starts the nodes, waits for
# them; fails when one did not start.
start_once() {
    dir=$1 nodes=$2
    echo "$nodes" >"$dir/nodes"
    voters=""
    for i in $(seq 1 "$nodes"); do
        mkdir -p "$dir/node$i/data"
        free_port >"$dir/node$i/port"
        free_port >"$dir/node$i/cport"
        voters="$voters${voters:+,}$i@127.0.0.1:$(cat "$dir/node$i/cport")"
    done
    id=$(cluster_id)
    echo "$id" >"$dir/cluster-id"
    boot=""
    for i in $(seq 1 "$nodes"); do
        write_props "$dir" "$i" "$nodes" "$voters" "$3"
        # shellcheck disable=SC2046
        java $(java_opts) -Dlog4j.configuration="file:$dir/node$i/log4j.properties" \
            -cp "$LIB/*" kafka.tools.StorageTool format --ignore-formatted \
            -t "$id" -c "$dir/node$i/server.properties" >"$dir/node$i/format.out" 2>&1 ||
            { cat "$dir/node$i/format.out" >&2; die "formatting node $i failed"; }
        boot="$boot${boot:+,}127.0.0.1:$(cat "$dir/node$i/port")"
    done
    echo "$boot" >"$dir/bootstrap"
    for i in $(seq 1 "$nodes"); do launch "$dir" "$i"; done
    write_pids "$dir"
    for i in $(seq 1 "$nodes"); do
        wait_node "$dir" "$i" "$nodes" || return 1
    done
}

cmd_stop() {
    dir=${1:?stop needs DIR}
    # shellcheck disable=SC2046
    stop_nodes "$dir" $(select_nodes "$dir")
    write_pids "$dir"
}

cmd_signal() { # SIGNAL DIR [NODE]
    sig=$1
    dir=${2:?$sig needs DIR}
    for i in $(select_nodes "$dir" "${3:-}"); do
        pid=$(cat "$dir/node$i/pid" 2>/dev/null) || die "node $i is not running"
        kill "-$sig" "$pid" || die "node $i (pid $pid): kill -$sig failed"
        if [ "$sig" = KILL ]; then
            while alive "$pid"; do sleep 0.05; done
            rm -f "$dir/node$i/pid"
        fi
    done
    write_pids "$dir"
}

cmd_restart() { # DIR [NODE]
    dir=${1:?restart needs DIR}
    fetch
    for i in $(select_nodes "$dir" "${2:-}"); do
        stop_nodes "$dir" "$i"
        launch "$dir" "$i"
    done
    write_pids "$dir"
    n=$(nodes_of "$dir")
    for i in $(select_nodes "$dir" "${2:-}"); do wait_node "$dir" "$i" "$n" || exit 1; done
    echo "pid=$(cat "$dir/pid")"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
pause) cmd_signal STOP "$@" ;;
resume) cmd_signal CONT "$@" ;;
kill) cmd_signal KILL "$@" ;;
restart) cmd_restart "$@" ;;
fetch) fetch && echo "$LIB" ;;
*)
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
