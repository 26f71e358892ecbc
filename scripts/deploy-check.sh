#!/bin/sh
# make deploy-check: checks deploy/ for real, offline, as far as this kind of
# machine allows (no Kubernetes cluster here):
#   1. yamllint on every manifest;
#   2. every manifest against the strict Kubernetes v1.32 JSON schemas of
#      ../shared/k8s-schemas (not part of the project: skipped, and said so,
#      where that folder is absent);
#   3. the ConfigMap's bridge.conf, with the Secret's fragment beside it,
#      through webhook-bridge check-config;
#   4. kubectl kustomize deploy/k8s, where kubectl is installed;
#   5. the image: built from deploy/Dockerfile with podman on a Debian
#      bookworm base made by debootstrap, then run read-only without
#      capabilities: /healthz answers, the process runs as uid 10001, SIGTERM
#      exits 0 (scripts/image-check.sh; DEPLOY_CHECK_IMAGE=0 skips it).
# Exits 1 when a step fails.
set -u
BIN=${1:-build/webhook-bridge}
fails=0
step() { printf '\n== deploy-check: %s\n' "$*"; }
failed() {
    echo "deploy-check: FAILED: $*"
    fails=$((fails + 1))
}
T=$(mktemp -d /tmp/deploy-check.XXXXXX)
trap 'rm -rf "$T"' EXIT

need=""
command -v yamllint >/dev/null || need="$need yamllint"
/usr/bin/python3 -c 'import yaml, jsonschema' 2>/dev/null || need="$need python3-yaml python3-jsonschema"
if [ -n "$need" ]; then
    echo "deploy-check: installing$need"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

step "yamllint deploy/k8s"
if yamllint -s deploy/k8s; then echo "ok"; else failed "yamllint"; fi

step "manifests against the Kubernetes v1.32 schemas"
SCHEMAS=""
for d in ../shared/k8s-schemas/v1.32*-standalone-strict; do
    [ -d "$d" ] && SCHEMAS=$d
done
if [ -z "$SCHEMAS" ]; then
    echo "SKIPPED: schema validation: ../shared/k8s-schemas is not beside the project here"
else
    echo "schemas: $SCHEMAS"
    /usr/bin/python3 deploy/check-manifests.py "$SCHEMAS" deploy/k8s/*.yaml deploy/k8s/optional/*.yaml ||
        failed "schema validation"
fi

step "the ConfigMap's bridge.conf (with the Secret's kafka.conf) through check-config"
/usr/bin/python3 - "$T" <<'PY' || failed "cannot extract the config from the manifests"
import os, sys, yaml
out = sys.argv[1]
cm = yaml.safe_load(open("deploy/k8s/configmap.yaml"))
secret = yaml.safe_load(open("deploy/k8s/secret.yaml"))
os.makedirs(os.path.join(out, "secret"))
open(os.path.join(out, "bridge.conf"), "w").write(cm["data"]["bridge.conf"])
open(os.path.join(out, "secret", "kafka.conf"), "w").write(secret["stringData"]["kafka.conf"])
PY
if "$BIN" check-config -c "$T/bridge.conf"; then echo "ok"; else failed "check-config"; fi

step "kubectl kustomize deploy/k8s"
if command -v kubectl >/dev/null; then
    if kubectl kustomize deploy/k8s >"$T/rendered.yaml"; then
        echo "ok: $(grep -c '^kind:' "$T/rendered.yaml") objects rendered"
    else
        failed "kustomize"
    fi
else
    echo "SKIPPED: kubectl is not installed (Debian 12 does not package it)"
fi

step "the image (podman)"
if [ "${DEPLOY_CHECK_IMAGE:-1}" = 0 ]; then
    echo "SKIPPED: DEPLOY_CHECK_IMAGE=0"
elif sh scripts/image-check.sh; then
    echo "ok"
else
    failed "image"
fi

echo
if [ "$fails" -eq 0 ]; then
    echo "deploy-check: every step passed (or said why it was skipped)"
    exit 0
fi
echo "deploy-check: $fails step(s) failed"
exit 1
