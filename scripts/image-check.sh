#!/bin/sh
# The image, built and run for real with podman (called by deploy-check):
# a minimal Debian bookworm root filesystem from debootstrap, imported and
# tagged docker.io/library/debian:bookworm-slim so that the unchanged
# "FROM debian:bookworm-slim" of deploy/Dockerfile builds offline from
# registries (--pull=never; the Debian archive is reached for packages);
# then run read-only with every capability dropped, on the example config's
# embedded Kafka: /healthz must answer, the process must run as uid 10001,
# and SIGTERM must end it with exit code 0.
#
# Podman on this kind of machine (root, hybrid cgroups, no CAP_SYS_RESOURCE)
# needs runc, explicit ulimits and host networking: containers.conf below.
set -eu
W=$(pwd)/build/image-check
IMAGE=localhost/webhook-bridge:check
NAME=webhook-bridge-check
mkdir -p "$W"
log() { echo "image-check: $*"; }

need=""
command -v podman >/dev/null || need="$need podman"
command -v runc >/dev/null || need="$need runc"
command -v debootstrap >/dev/null || need="$need debootstrap"
command -v curl >/dev/null || need="$need curl"
if [ -n "$need" ]; then
    log "installing$need"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

cat >"$W/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$W/containers.conf"

# The Debian mirror this machine uses (the only network there is).
MIRROR=$(sed -n 's/^[[:space:]]*URIs:[[:space:]]*\([^[:space:]]*debian\/*\)[[:space:]]*$/\1/p' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$MIRROR" ] || MIRROR=$(sed -n 's/^deb[[:space:]]\{1,\}\(http[^[:space:]]*\)[[:space:]]\{1,\}bookworm[[:space:]].*/\1/p' \
    /etc/apt/sources.list 2>/dev/null | head -1)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian

if podman image exists docker.io/library/debian:bookworm-slim; then
    log "base image docker.io/library/debian:bookworm-slim already here"
else
    log "debootstrap --variant=minbase bookworm from $MIRROR"
    rm -rf "$W/rootfs"
    debootstrap --variant=minbase bookworm "$W/rootfs" "$MIRROR" >"$W/debootstrap.log" 2>&1 || {
        tail -20 "$W/debootstrap.log"
        exit 1
    }
    tar -C "$W/rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
    rm -rf "$W/rootfs"
    log "imported as docker.io/library/debian:bookworm-slim"
fi

log "podman build -f deploy/Dockerfile"
podman build --pull=never --network=host -f deploy/Dockerfile -t "$IMAGE" . >"$W/build.log" 2>&1 || {
    tail -30 "$W/build.log"
    exit 1
}
log "built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"

PORT=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 10000) }')
podman rm -f "$NAME" >/dev/null 2>&1 || true
podman run -d --name "$NAME" --read-only --cap-drop=ALL --network=host \
    -e WEBHOOK_BRIDGE_ADMIN_LISTEN="127.0.0.1:$PORT" "$IMAGE" >/dev/null
cleanup() { podman rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
i=0
until curl -sf -o "$W/healthz" "http://127.0.0.1:$PORT/healthz"; do
    i=$((i + 1))
    if [ $i -gt 150 ]; then
        podman logs "$NAME" 2>&1 | tail -20
        log "FAILED: /healthz did not answer on 127.0.0.1:$PORT within 30 s"
        exit 1
    fi
    sleep 0.2
done
log "/healthz on 127.0.0.1:$PORT: $(cat "$W/healthz")"
i=0
until curl -sf -o "$W/readyz" "http://127.0.0.1:$PORT/readyz"; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then
        podman logs "$NAME" 2>&1 | tail -20
        log "FAILED: /readyz did not turn 200 within 60 s"
        exit 1
    fi
    sleep 0.2
done
log "/readyz: $(cat "$W/readyz") (the embedded Kafka, the registry and the group are up)"
PID=$(podman inspect --format '{{.State.Pid}}' "$NAME")
UID_NOW=$(awk '/^Uid:/ { print $2 }' "/proc/$PID/status")
if [ "$UID_NOW" != 10001 ]; then
    log "FAILED: the process runs as uid $UID_NOW, not 10001"
    exit 1
fi
log "the process (pid $PID on the host) runs as uid $UID_NOW, read-only, no capabilities"
podman stop -t 30 "$NAME" >/dev/null
CODE=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
if [ "$CODE" != 0 ]; then
    podman logs "$NAME" 2>&1 | tail -20
    log "FAILED: exit code $CODE after SIGTERM"
    exit 1
fi
log "SIGTERM: exit code 0 ($(podman logs "$NAME" 2>&1 | grep -c '"msg":"shutdown: ') shutdown stages logged)"
# Earlier builds' layers are not needed any more.
podman image prune -f >/dev/null 2>&1 || true
