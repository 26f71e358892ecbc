# Topic provisioning against the embedded cluster: `topics check` finds the
# topics the bridge created and reports a missing one (exit 1), and says it
# could not check configurations where the cluster does not answer
# DescribeConfigs (the mock does not) rather than failing; `topics create`
# prints what it asks for and, the mock implementing no CreateTopics, says
# so clearly and exits non-zero.
. tests/e2e/lib.sh
only_on mock "checks the mock's answers (no CreateTopics, no DescribeConfigs); realkafka covers a real broker"

cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
retry = { schedule = [ "1s", "2s" ]; window = "10s"; };
CONF
start_bridge bridge "$T/bridge.conf"
topics() { WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" topics "$@"; }

topics check -c "$T/bridge.conf" >"$T/check.out" 2>&1
rc=$?
check "topics check: every topic the bridge needs is there, exit 0" \
    sh -c "[ $rc -eq 0 ] && [ \$(grep -c '^  ok ' $T/check.out) -eq 7 ] && grep -q '^7 topic(s): 0 missing' $T/check.out"
check "the delay topics of the schedule and <prefix>-0s are among them" \
    sh -c "grep -q 'ok      webhook-delay-1s' $T/check.out && grep -q 'ok      webhook-delay-2s' $T/check.out && grep -q 'ok      webhook-delay-0s' $T/check.out"
check "it says it could not check configurations (no DescribeConfigs) instead of failing" \
    grep -q '^note: topic configurations not checked: the cluster does not answer DescribeConfigs' "$T/check.out"
sed 's/kafka = { brokers = "embedded"; partitions = 2; };/kafka = { brokers = "embedded"; partitions = 2; topics = { attempts = "not-there"; }; };/' \
    "$T/bridge.conf" >"$T/other.conf"
topics check -c "$T/other.conf" >"$T/missing.out" 2>&1
rc=$?
check "a missing topic is reported, exit 1" \
    sh -c "[ $rc -eq 1 ] && grep -q '^  MISSING not-there ' $T/missing.out && grep -q '1 missing' $T/missing.out"
check "and checking did not create it" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' topics check -c '$T/other.conf' 2>&1 | grep -q '^  MISSING not-there '"
topics create -c "$T/bridge.conf" --partitions 4 --replication 1 >"$T/create.out" 2>"$T/create.err"
rc=$?
check "topics create prints each request: name, partitions, replication, configs" \
    sh -c "grep -q 'webhook-endpoints .* 4 partition(s), replication 1, cleanup.policy=compact' $T/create.out &&
           grep -q 'webhook-dead-letter .* retention.ms=2592000000' $T/create.out"
check "on a cluster without CreateTopics it says so and exits 1" \
    sh -c "[ $rc -eq 1 ] && grep -q 'does not implement CreateTopics' $T/create.err"
check "bad usage: exit 2" sh -c "'$BIN' topics check --partitions 3 -c '$T/bridge.conf' 2>/dev/null; [ \$? -eq 2 ]"
check "SIGTERM exits 0" stop_bridge
finish
