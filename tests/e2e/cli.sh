# The command line: bad configs fail at start with file:line and exit 2,
# check-config says "ok" with a summary, env overrides apply, usage errors
# exit 2.
. tests/e2e/lib.sh
only_on mock "uses no Kafka"

cat >"$T/bad.conf" <<'CONF'
kafka = { brokers = "embedded"; };
delivery = {
  timeout = "10x";
  max_in_flihgt = 5;
};
CONF
"$BIN" check-config -c "$T/bad.conf" >"$T/cc.out" 2>"$T/cc.err"
check "check-config on a bad file exits 2" test $? -eq 2
check "it names file:line and the setting for a bad duration" grep -q 'bad.conf:3: .*delivery.timeout' "$T/cc.err"
check "it names file:line of an unknown key and suggests the right one" \
    grep -q "bad.conf:4: .*max_in_flihgt.*max_in_flight" "$T/cc.err"
"$BIN" run -c "$T/bad.conf" >"$T/run.out" 2>"$T/run.err"
check "run on a bad file exits 2 before starting" test $? -eq 2
check "run prints the same messages" cmp -s "$T/cc.err" "$T/run.err"
"$BIN" check-config -c conf/bridge.conf >"$T/ok.out" 2>&1
check "the example config is valid" test $? -eq 0
check "check-config prints ok and a summary" grep -q '^ok' "$T/ok.out"
WEBHOOK_BRIDGE_BROKERS=10.1.2.3:9092 "$BIN" check-config -c conf/bridge.conf >"$T/env.out" 2>&1
check "WEBHOOK_BRIDGE_BROKERS overrides kafka.brokers" grep -q '10.1.2.3:9092' "$T/env.out"
"$BIN" check-config -c "$T/missing.conf" >/dev/null 2>"$T/missing.err"
check "a missing file exits 2 and says so" sh -c "[ $? -eq 2 ] && grep -q 'missing.conf' $T/missing.err"
"$BIN" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
"$BIN" --help >"$T/help.out" 2>&1
check "--help lists the commands" grep -q 'check-config' "$T/help.out"
check "--help lists every command" sh -c "for c in run check-config endpoints topics dlq attempts produce send-test receive config-reference version; do grep -q \"^  \$c \" $T/help.out || exit 1; done"
"$BIN" version >"$T/version.out"
check "version names the bridge and librdkafka" grep -q '^webhook-bridge [0-9].*librdkafka' "$T/version.out"
"$BIN" config-reference >"$T/ref.md"
check "config-reference documents kafka.brokers" grep -q 'kafka.brokers' "$T/ref.md"
finish
