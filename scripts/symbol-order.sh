#!/usr/bin/env bash
# Regenerates scripts/operator-symbol-order.txt: the functions the release operator runs when it
# starts, lists and watches, converges a few PynomalyDeployments and rolls one of them, in the order
# it first runs them. The release link (Package.swift) places those functions first in .text, so the
# code a running operator touches sits in a few hundred contiguous KiB instead of being spread over
# the whole 14 MB section, where the kernel's fault-around maps 64 KiB around every touched page
# (measured: idle RSS -2.8 MiB; docs/performance.md, finding 4).
#
# Run it after changes that move what the operator runs (a stale file only costs memory: symbols it
# names that no longer exist are ignored, new functions are placed after the listed ones).
# Needs valgrind (apt-get install -y valgrind) and a quiet machine for ~5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${ORDER_SCRATCH:-.build-release}
OUT=scripts/operator-symbol-order.txt
command -v valgrind >/dev/null || { echo "symbol-order: needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }

for product in pynomaly-sandbox pynomaly-operator; do
  swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product "$product"
done

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# valgrind 3.19 cannot read the DWARF 5 the toolchain writes: run a copy without debug info.
cp "$SCRATCH/release/pynomaly-operator" "$work/operator"
strip --strip-debug "$work/operator"

"$SCRATCH/release/pynomaly-sandbox" --server-only --state-directory "$work/state" \
  --simulated-pod-start-seconds 0 --simulated-job-seconds 0 > "$work/server.log" 2>&1 &
for _ in $(seq 1 240); do grep -q "The sandbox is running" "$work/server.log" && break; sleep 0.5; done
export KUBECONFIG="$work/state/kubeconfig"
kubectl create namespace order >/dev/null

valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
  "$work/operator" run --kubeconfig "$KUBECONFIG" --metrics-bind-address 127.0.0.1:18782 \
  --health-probe-bind-address 127.0.0.1:18781 --log-level warning > "$work/operator.log" 2>&1 &
operator=$!
for _ in $(seq 1 600); do curl -sf 127.0.0.1:18781/readyz >/dev/null && break; sleep 0.5; done
# An idle spell (probes and metrics answered, periodic work run), then a dump: what an idle
# operator runs is listed first, so that it sits in as few pages as possible. Within one dump
# callgrind lists functions in no useful order, so without it the idle code would be spread over
# the whole list and nearly every 64 KiB of it would be resident at idle.
sleep 20
curl -s "127.0.0.1:18781/readyz?verbose" >/dev/null
curl -s "127.0.0.1:18782/metrics" >/dev/null
callgrind_control --dump "$operator" >/dev/null

# A few copies of the sample, then an image change: the paths a converging and a rolling pass take.
python3 - "$work/crs.yaml" <<'PY'
import re, sys
docs = open("manifests/samples/pynomaly.yaml").read().split("\n---")
out = [d for d in docs if "kind: Secret" in d]
sample = next(d for d in docs if "kind: PynomalyDeployment" in d)
out += [re.sub(r"(\n  name: )\S+", r"\g<1>app%d" % i, sample, count=1) for i in range(5)]
open(sys.argv[1], "w").write("\n---\n".join(out))
PY
kubectl apply -n order -f "$work/crs.yaml" >/dev/null
kubectl wait -n order --for=condition=Ready pyd --all --timeout=180s >/dev/null
kubectl patch -n order pyd app0 --type merge -p '{"spec":{"image":"ghcr.io/elgerytme/pynomaly:v0.1.4"}}' >/dev/null
kubectl wait -n order --for=condition=Ready pyd app0 --timeout=180s >/dev/null
curl -s "127.0.0.1:18781/readyz?verbose" >/dev/null
kill -TERM "$operator"
wait "$operator" || true

# Functions of the operator's own object: those of the idle dump first, then those only the
# converging and rolling ran. Names are defined once per file ("fn=(id) name") and referred to by
# id after, objects likewise ("ob=", "cob=").
python3 - "$work" "$work/operator" "$OUT" <<'PY'
import glob, os, re, sys
work, binary, out = sys.argv[1:]
line_re = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")

def functions(path):
    objects, names, current, found = {}, {}, None, []
    for line in open(path, errors="replace"):
        m = line_re.match(line.rstrip("\n"))
        if not m:
            continue
        kind, ident, name = m.groups()
        if kind in ("ob", "cob"):
            if name:
                objects[ident] = name
            if kind == "ob":
                current = objects.get(ident)
        else:
            if name:
                names[ident] = name
            if kind == "fn" and current == binary:
                symbol = names.get(ident, "").split("'")[0]
                if symbol and not symbol.startswith("0x"):
                    found.append(symbol)
    return found

# callgrind.out.1 is the idle dump; callgrind.out (or .2) what ran after it.
def dump_number(path):
    suffix = os.path.basename(path)[len("callgrind.out"):].lstrip(".")
    return int(suffix) if suffix.isdigit() else float("inf")
dumps = sorted(glob.glob(os.path.join(work, "callgrind.out*")), key=dump_number)
order, seen = [], set()
for path in dumps:
    for symbol in functions(path):
        if symbol not in seen:
            seen.add(symbol)
            order.append(symbol)
if len(order) < 1000:
    sys.exit(f"symbol-order: only {len(order)} functions seen; is the operator's run in the callgrind output?")
open(out, "w").write("\n".join(order) + "\n")
print(f"symbol-order: {len(order)} functions ({len(functions(dumps[0]))} idle) from {len(dumps)} dumps written to {out}")
PY

# The list is not an input SwiftPM tracks: remove the binary so the next build links it again.
rm -f "$SCRATCH/release/pynomaly-operator" "$SCRATCH"/*/release/pynomaly-operator
swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product pynomaly-operator
