# HTTPS endpoints and delivery.ca_file (issue 10's HTTPS run needs it; an
# internal CA is the production case).  nginx serves HTTPS on 127.0.0.1 with
# a certificate signed by a CA made here.  Without the CA the bridge refuses
# the certificate: the attempt fails (a certificate error, nothing reaches
# nginx) and the delivery is parked.  Restarted with delivery.ca_file
# naming the CA, it delivers the parked one on its retry: verification
# (certificate and host name) stays on, only the trusted CAs change.
. tests/e2e/lib.sh
only_on mock "the TLS path is the bridge's alone"

# A CA and a server certificate for IP 127.0.0.1, signed by it.
sh scripts/testca.sh "$T" webhook-bridge-test-ca ||
    { fail "scripts/testca.sh could not make the certificates ($T/openssl.err)"; finish; }

# nginx on a port of its own, answering 204 to every request, one access
# log line each.  Its paths are absolute: nginx reads relative ones from
# its prefix (tests/run.sh gives a relative log directory).
start_nginx() {
    N=$(cd "$T" && pwd)
    tries=0
    while [ $tries -lt 20 ]; do
        NPORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
        cat >"$N/nginx.conf" <<NGINX
worker_processes 1;
pid $N/nginx.pid;
error_log $N/nginx.err;
daemon off;
events { worker_connections 256; }
http {
    access_log $N/access.log;
    client_body_temp_path $N;
    server {
        listen 127.0.0.1:$NPORT ssl;
        ssl_certificate $N/server.pem;
        ssl_certificate_key $N/server.key;
        location / { return 204; }
    }
}
NGINX
        : >"$N/access.log"
        /usr/sbin/nginx -c "$N/nginx.conf" -p "$N" 2>>"$N/nginx.err" &
        NGINX_PID=$!
        PIDS="$PIDS $NGINX_PID"
        if wait_until 5 sh -c "curl -s -o /dev/null --cacert $N/ca.pem https://127.0.0.1:$NPORT/"; then
            return 0
        fi
        kill $NGINX_PID 2>/dev/null
        tries=$((tries + 1))
    done
    fail "nginx did not start"
    finish
}
start_nginx
: >"$T/access.log"

start_cluster $(cluster_topics 1 1s)
write_conf() { # CA-FILE-SETTING
    cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; }; };
delivery = { allow_private_networks = true; $1 };
retry = { schedule = [ "1s" ]; window = "5m"; };
log = { level = "debug"; };
endpoints = ( { id = "tls"; account_id = "$ACCOUNT_A"; url = "https://127.0.0.1:$NPORT/hook"; } );
CONF
}
write_conf ""
make_topics "$T/bridge.conf"
event "$(uuid)" Subscribe "$ACCOUNT_A" >"$T/events"
produce "$T/events"
start_bridge bridge "$T/bridge.conf"
check "without the CA: the attempt fails on the certificate" \
    wait_until 30 grep -q 'certificate' "$T/bridge.err"
check "without the CA: nothing reached nginx" test "$(lines "$T/access.log")" -eq 0
check "SIGTERM exits 0" stop_bridge
check "without the CA: no delivery succeeded" \
    sh -c "grep '\"final stats\"' $T/bridge.err | tail -1 | jq -e '.deliveries_succeeded == 0 and .attempts_error >= 1' >/dev/null"

write_conf "ca_file = \"$T/ca.pem\";"
start_bridge bridge "$T/bridge.conf"
check "with delivery.ca_file: the parked delivery reaches nginx on its retry" \
    wait_until 60 sh -c "grep -q 'POST /hook HTTP/1.1\" 204' $T/access.log"
check "SIGTERM exits 0" stop_bridge
check "with delivery.ca_file: one delivery succeeded" \
    sh -c "grep '\"final stats\"' $T/bridge.err | tail -1 | jq -e '.deliveries_succeeded == 1' >/dev/null"

write_conf "ca_file = \"$T/nowhere.pem\";"
check "an unreadable ca_file fails at start with file:line" \
    sh -c "! timeout 20 '$BIN' run -c '$T/bridge.conf' 2>'$T/bad.err' && grep -q 'bridge.conf:2' '$T/bad.err'"
finish
