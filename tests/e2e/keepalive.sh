# Keep-alive connections survive a drain (issue 10): when the deliveries in
# flight drain to one at a time and then refill, the bridge reuses the
# connections it opened, rather than closing all but a few and reconnecting.
# libcurl's default cache holds 4 connections per transfer running, so a
# trickle of single deliveries closed the idle ones a burst had opened; the
# worker's cache now holds as many as it may have transfers running.  The
# receiver prints each POST's client port: one port, one connection.
#
# And an idle connection the server closes is not a failed delivery: the
# bridge keeps idle connections in its epoll set (issue 10), and a receiver
# closing every connection idle for 1 s must still get the next deliveries
# at their first attempt, on new connections.
. tests/e2e/lib.sh

start_receiver slow --delay 300 --idle-timeout 300
start_receiver closing --delay 100 --idle-timeout 1
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 1; };
delivery = { allow_private_networks = true; workers = 1; max_in_flight = 64;
             endpoint_max_in_flight = 16; timeout = "10s"; };
endpoints = (
  { id = "slow"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_slow/h"; },
  { id = "closing"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_closing/h"; }
);
CONF
start_bridge bridge "$T/bridge.conf"

ports() { jq -r .peerPort "$T/slow.out" | sort -u; }
answered() { # N [RECEIVER]: N POSTs seen and answered (the answer comes 300 ms after the line)
    [ "$(lines "$T/${2:-slow}.out")" -ge "$1" ] || return 1
    sleep 1
    [ "$(lines "$T/${2:-slow}.out")" -eq "$1" ]
}

# A burst: 16 at a time (the endpoint's cap), 16 connections.
events 48 Subscribe "$ACCOUNT_A" >"$T/burst1"
produce "$T/burst1"
check "burst 1: 48 deliveries" wait_until 60 answered 48
ports >"$T/ports1"
n1=$(wc -l <"$T/ports1")
check "burst 1 ran on at least 8 connections (got $n1)" test "$n1" -ge 8

# A trickle: one delivery at a time, 8 times.
i=0
while [ $i -lt 8 ]; do
    events 1 Subscribe "$ACCOUNT_A" >"$T/one"
    produce "$T/one"
    wait_until 30 answered $((49 + i)) || fail "trickle delivery $((i + 1))"
    i=$((i + 1))
done

# The refill: a burst again, on the connections opened before.
events 48 Subscribe "$ACCOUNT_A" >"$T/burst2"
produce "$T/burst2"
check "burst 2: 48 more deliveries" wait_until 60 answered 104
ports >"$T/ports-all"
new=$(comm -13 "$T/ports1" "$T/ports-all" | wc -l)
check "no connection opened after burst 1 ($new new: $(comm -13 "$T/ports1" "$T/ports-all" | tr '\n' ' '))" \
    test "$new" -eq 0
check "every delivery succeeded" test "$(jq -r .status "$T/slow.out" | sort -u)" = 200

# Idle connections closed by the server: three bursts 3 s apart, each
# finding every connection of the one before closed.
b=1
while [ $b -le 3 ]; do
    events 16 Subscribe "$ACCOUNT_B" >"$T/closing$b"
    produce "$T/closing$b"
    check "closing receiver, burst $b: delivered" wait_until 60 answered $((16 * b)) closing
    sleep 3
    b=$((b + 1))
done
burst_ports() { sed -n "$(($1 * 16 - 15)),$(($1 * 16))p" "$T/closing.out" | jq -r .peerPort | sort -u; }
burst_ports 1 >"$T/cp1"
burst_ports 2 >"$T/cp2"
burst_ports 3 >"$T/cp3"
check "the receiver had closed the idle connections: no burst reused one of the burst before" \
    test "$(comm -12 "$T/cp1" "$T/cp2" | wc -l) $(comm -12 "$T/cp2" "$T/cp3" | wc -l)" = "0 0"
check "every delivery to the closing receiver succeeded at its first attempt" \
    test "$(jq -r '"\(.status) \(.attempt)"' "$T/closing.out" | sort -u)" = "200 1"
stop_bridge
check "no attempt failed" \
    sh -c "grep '\"final stats\"' $T/bridge.err | jq -e '.attempts_failed == 0' >/dev/null"
finish
