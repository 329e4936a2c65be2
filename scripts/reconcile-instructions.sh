#!/usr/bin/env bash
# Instructions the operator executes per reconcile while N new PynomalyDeployments converge, counted
# by valgrind's callgrind: the same binary gives the same count to within about 0.3 % from run to
# run, where its CPU time on a shared VM moves by 30 %. Use it to compare two builds of the operator;
# it counts user-space instructions only (not the kernel's share: syscalls, TLS on loopback, waits).
#
#   ./scripts/reconcile-instructions.sh [OPERATOR] [N] [PROFILE]
#
# OPERATOR: a release pynomaly-operator (default .build-release/release/pynomaly-operator, built by
# `make bench`); N: CRs to converge (default 100); PROFILE: where to keep the callgrind profile of
# the converge (optional; `callgrind_annotate` reads it). Prints: instructions, reconciles,
# millions of instructions per reconcile.
set -euo pipefail
cd "$(dirname "$0")/.."

OPERATOR=${1:-.build-release/release/pynomaly-operator}
COUNT=${2:-100}
PROFILE=${3:-}
command -v valgrind >/dev/null || { echo "reconcile-instructions: needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
[ -x .build-release/release/pynomaly-sandbox ] || swift build -c release --static-swift-stdlib --scratch-path .build-release --product pynomaly-sandbox

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# Valgrind cannot read the DWARF of the static Swift binary; the symbols are enough.
strip --strip-debug -o "$work/operator" "$OPERATOR"

.build-release/release/pynomaly-sandbox --server-only --state-directory "$work/state" \
  --simulated-pod-start-seconds 0 --simulated-job-seconds 0 > "$work/server.log" 2>&1 &
for _ in $(seq 1 240); do grep -q "The sandbox is running" "$work/server.log" && break; sleep 0.5; done
export KUBECONFIG="$work/state/kubeconfig"
kubectl create namespace converge >/dev/null

metrics=$((20000 + RANDOM % 10000))
probes=$((metrics + 1))
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$work/operator" run --kubeconfig "$KUBECONFIG" \
  --metrics-bind-address "127.0.0.1:$metrics" --health-probe-bind-address "127.0.0.1:$probes" --log-level warning > "$work/operator.log" 2>&1 &
operator=$!
for _ in $(seq 1 600); do
  curl -sf "127.0.0.1:$probes/readyz" >/dev/null && break
  kill -0 "$operator" 2>/dev/null || { echo "the operator exited:" >&2; tail -n 5 "$work/operator.log" >&2; exit 1; }
  sleep 0.5
done
sleep 3

python3 - "$work/crs.yaml" "$COUNT" <<'PY'
import re, sys
docs = open("manifests/samples/pynomaly.yaml").read().split("\n---")
out = [d for d in docs if "kind: Secret" in d]
sample = next(d for d in docs if "kind: PynomalyDeployment" in d)
out += [re.sub(r"(\n  name: )\S+", r"\g<1>app%d" % i, sample, count=1) for i in range(int(sys.argv[2]))]
open(sys.argv[1], "w").write("\n---\n".join(out))
PY
reconciles() { curl -s "127.0.0.1:$metrics/metrics" | awk '/^controller_runtime_reconcile_total/ { s += $2 } END { print s + 0 }'; }
before=$(reconciles)
callgrind_control --zero "$operator" >/dev/null
kubectl apply -n converge -f "$work/crs.yaml" >/dev/null
kubectl wait -n converge --for=condition=Ready pyd --all --timeout=900s >/dev/null
sleep 2
callgrind_control --dump=converge "$operator" >/dev/null
after=$(reconciles)
kill -TERM "$operator"
wait "$operator" 2>/dev/null || true

profile=$(grep -l "^desc: Trigger: dump converge" "$work"/callgrind.out* | head -1)
instructions=$(awk '/^summary:/ { print $2; exit }' "$profile")
[ -n "$PROFILE" ] && cp "$profile" "$PROFILE"
python3 -c "import sys; i, r = int(sys.argv[1]), int(sys.argv[2]); print(i, r, round(i / max(r, 1) / 1e6, 3))" "$instructions" "$((after - before))"
