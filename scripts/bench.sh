#!/usr/bin/env bash
# `make bench`: release builds of the API server (pynomaly-sandbox), the operator and the benchmark
# program in .build-release (apart from the debug .build, so a bench never waits on a test build),
# then the benchmark. --static-swift-stdlib as the Dockerfile builds the shipped binary, so memory is measured
# on what ships. Arguments go to pynomaly-bench (e.g. --quick, --counts 100,1000, --qps 100);
# see docs/performance.md. The table is printed; the results go to bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
SCRATCH=${BENCH_SCRATCH:-.build-release}

for product in pynomaly-sandbox pynomaly-operator pynomaly-bench; do
  echo "building $product (release, $SCRATCH)"
  "$SWIFT" build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product "$product"
done

exec "$SCRATCH/release/pynomaly-bench" --binaries "$SCRATCH/release" --work-directory "$SCRATCH/bench-work" "$@"
