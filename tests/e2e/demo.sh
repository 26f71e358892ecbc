# make demo as a user runs it (scripts/demo.sh): it delivers, retries and
# dead-letters on the embedded Kafka, ends by itself with exit 0, and leaves
# no process behind (its receivers used to outlive it: the script stopped
# each pipeline's sed, not the receiver feeding it).
. tests/e2e/lib.sh
only_on mock "make demo runs on the embedded cluster by design"

sh scripts/demo.sh "$BIN" >"$T/demo.out" 2>&1
rc=$?
check "the demo ends by itself with exit 0" test $rc -eq 0
D=$(sed -n 's/.*full bridge log: \(.*\)\/bridge.log.*/\1/p' "$T/demo.out")
check "it says where its files are" test -n "$D"
check "crm received both sample events" \
    sh -c "[ \$(grep -c '\[receiver crm\]' $T/demo.out) -ge 2 ]"
check "down's deliveries were dead-lettered after their retries" \
    grep -q 'retry_window_expired: event .* to down after [0-9]* attempts' "$T/demo.out"
check "the bridge stopped with exit code 0" grep -q 'exit code 0' "$T/demo.out"
sleep 1
# "[w]" keeps the pattern from matching the shell that runs pgrep.
check "no process of the demo is left (receivers included)" \
    sh -c "! pgrep -f '[w]ebhook-bridge-demo${D#*webhook-bridge-demo}' >/dev/null"
pkill -f "${D:-/nonexistent-demo-dir}" 2>/dev/null
finish
