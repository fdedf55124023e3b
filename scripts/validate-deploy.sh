#!/usr/bin/env bash
# Offline validation of the deployment files: compose spec, GitHub workflow schema, the Helm
# chart (lint, and templates with default and non-default values validated against the
# Kubernetes OpenAPI schemas), and the scenario the chart renders, through the harness's
# own model. Needs no Docker engine, no cluster, no network (except to build helm once).
#
#   scripts/validate-deploy.sh                 # validate; exits non-zero on any failure
#   scripts/validate-deploy.sh --install-helm  # build the pinned helm into .tools/bin
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HELM_VERSION=v3.21.4          # builds with Go >= 1.24 (tested with Go 1.26)
KUBE_VERSION=1.31.0           # the Kubernetes version templates are rendered and validated for
TOOLS="${HARNESS_TOOLS_DIR:-$ROOT/.tools}/bin"  # shared tools dir when set (as make does)
HELM="$TOOLS/helm"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
BIN="$(dirname "$PY")"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

install_helm() {
    if [[ -x "$HELM" && "$(cat "$HELM.version" 2>/dev/null)" == "$HELM_VERSION" ]]; then
        echo "helm $HELM_VERSION already in $TOOLS"
        return
    fi
    echo "building helm $HELM_VERSION with $("$GO" version) ..."
    mkdir -p "$TOOLS"
    GOBIN="$TOOLS" CGO_ENABLED=0 "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    echo "$HELM_VERSION" > "$HELM.version"
}

if [[ "${1:-}" == "--install-helm" ]]; then
    install_helm
    exit 0
fi

failures=0
step() {  # step NAME CMD...: run, report, remember a failure, keep going
    local name=$1; shift
    if "$@"; then
        echo "ok   $name"
    else
        echo "FAIL $name" >&2
        failures=$((failures + 1))
    fi
}

step "compose.yaml against the compose spec" \
    "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
step "GitHub workflows against their schema" \
    "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml

if [[ ! -x "$HELM" ]]; then
    echo "FAIL helm not found at $HELM (run: scripts/validate-deploy.sh --install-helm)" >&2
    exit 1
fi

CHART=charts/soak-harness
RENDER_DIR=$(mktemp -d)
trap 'rm -rf "$RENDER_DIR"' EXIT

render_and_validate() {  # render_and_validate LABEL [helm args...]
    local label=$1; shift
    local out="$RENDER_DIR/$label.yaml"
    "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" "$@" >"$RENDER_DIR/$label.lint" \
        || { cat "$RENDER_DIR/$label.lint" >&2; return 1; }
    "$HELM" template soak "$CHART" --kube-version "$KUBE_VERSION" "$@" >"$out" || return 1
    "$BIN/kubernetes-validate" --kubernetes-version "$KUBE_VERSION" --strict --quiet "$out" \
        || return 1
    "$PY" - "$out" <<'PYEOF'
import sys, yaml
from harness.errors import ScenarioError
from harness.scenario import scenario_from_dict
from harness.scenario._deploy import attach_problems

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
maps = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-scenario")]
assert len(maps) == 1, "expected one scenario ConfigMap"
try:
    scenario = scenario_from_dict(yaml.safe_load(maps[0]["data"]["scenario.yaml"]))
except ScenarioError as exc:
    sys.exit(f"rendered scenario does not validate:\n{exc}")
problems = attach_problems(scenario)
if problems:
    sys.exit("rendered attach section:\n  " + "\n  ".join(problems))
PYEOF
}

step "helm chart, default values" render_and_validate default
for values in "$CHART"/ci/*-values.yaml; do
    step "helm chart, $(basename "$values")" render_and_validate "$(basename "$values" .yaml)" \
        -f "$values"
done
step "helm chart, samples and CronJob off (--set)" render_and_validate set-off \
    --set samples.enabled=false --set cronJob.enabled=false

if ((failures)); then
    echo "$failures validation step(s) failed" >&2
    exit 1
fi
echo "deployment files valid (offline: schemas, helm lint/template, kubernetes-validate $KUBE_VERSION)"
