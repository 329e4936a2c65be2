# pynomaly-operator — build, test and run the sandbox.
# `make run` and `make test` install the system libraries they need when missing (as root), or say
# exactly what to install otherwise.

SHELL := /bin/bash
SWIFT ?= swift
SWIFT_FLAGS ?=
APT_PACKAGES := libssl-dev libnghttp2-dev dpkg-dev libyaml-dev zlib1g-dev
# kubectl is used by the end-to-end tests (it is preinstalled on the project's machines).

.PHONY: all build test run deps test-deps release release-check fuzz bench clean preflight

all: build

deps:
	@missing=""; \
	ls /usr/lib/*/libssl.a >/dev/null 2>&1 || missing="$$missing libssl-dev"; \
	ls /usr/lib/*/libnghttp2.a >/dev/null 2>&1 || missing="$$missing libnghttp2-dev"; \
	command -v dpkg-source >/dev/null 2>&1 || missing="$$missing dpkg-dev"; \
	pkg-config --exists yaml-0.1 2>/dev/null || missing="$$missing libyaml-dev"; \
	pkg-config --exists zlib 2>/dev/null && [ -f /usr/include/zlib.h ] || missing="$$missing zlib1g-dev"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || { echo "apt-get install failed:$$missing"; exit 1; }; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "install them with: sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@./scripts/build-libcurl.sh

# The backup/restore script tests run pg_dump, pg_restore and vacuumdb against a real PostgreSQL 15
# server that the tests start on loopback (Tests/PynomalyOperatorTests/TestPostgres.swift); the
# analysis tests start a real Prometheus on loopback and the rule tests run promtool (package
# prometheus; Tests/PynomalyOperatorTests/TestPrometheus.swift).
test-deps: deps
	@if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing: postgresql-15"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15) >/dev/null || { echo "apt-get install failed: postgresql-15"; exit 1; }; \
	  else \
	    echo "missing: PostgreSQL 15 server (the backup/restore tests start one on loopback)"; \
	    echo "install it with: sudo apt-get install -y postgresql-15"; \
	    exit 1; \
	  fi; \
	fi
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing: prometheus"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null || { echo "apt-get install failed: prometheus"; exit 1; }; \
	  else \
	    echo "missing: Prometheus and promtool (the analysis tests start a Prometheus on loopback; the rule tests run promtool)"; \
	    echo "install them with: sudo apt-get install -y --no-install-recommends prometheus"; \
	    exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release --static-swift-stdlib $(SWIFT_FLAGS)

# Tests run in parallel (two workers for two cores); the last line is a plain "N passed, N failed"
# summary counted from both xUnit reports (XCTest's and Swift Testing's), since `swift test
# --parallel` closes with a summary of one framework only.
test: test-deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	@command -v kubectl >/dev/null 2>&1 || { echo "kubectl is not on PATH: the end-to-end tests need it"; exit 1; }
	@rm -f .build/xunit.xml .build/xunit-swift-testing.xml
	$(SWIFT) test --skip-build --parallel --num-workers 2 --xunit-output .build/xunit.xml $(SWIFT_FLAGS)
	@tests=$$(cat .build/xunit.xml .build/xunit-swift-testing.xml 2>/dev/null | grep -o '<testcase ' | wc -l); \
	  failed=$$(cat .build/xunit.xml .build/xunit-swift-testing.xml 2>/dev/null | grep -o '<failure' | wc -l); \
	  echo "Tests: $$((tests - failed)) passed, $$failed failed (XCTest and Swift Testing)"; [ "$$tests" -gt 0 ] && [ "$$failed" -eq 0 ]

# The sandbox: an embedded test API server with simulated controllers, the CRDs installed, preflight,
# the operator running against it and the sample applied, its rollout printed until Ctrl-C.
# KUBECONFIG_PATH=path make run checks a real cluster with preflight instead.
run: deps
	$(SWIFT) build $(SWIFT_FLAGS) --product pynomaly-sandbox
	$(SWIFT) build $(SWIFT_FLAGS) --product pynomaly-operator
	$(SWIFT) build $(SWIFT_FLAGS) --product kubectl-pynomaly
	$(SWIFT) run $(SWIFT_FLAGS) --skip-build pynomaly-sandbox $(if $(KUBECONFIG_PATH),--kubeconfig $(KUBECONFIG_PATH),)

# Benchmarks (release build in .build-release; not part of `make test`): prints a table and writes
# bench/results.json. See docs/performance.md.
bench: deps
	./scripts/bench.sh

# Release build + check the binary's libraries against the runtime image (takes minutes; not in `make test`).
release-check: deps
	./scripts/check-release-binary.sh

# libFuzzer targets (Fuzz/) for the parsers of outside data, each run FUZZ_SECONDS; new inputs go to
# .build-fuzz/corpus (the committed seeds in Fuzz/Corpus stay small), crashes to .build-fuzz/crashes.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := FuzzWatchStream FuzzObjectJSON FuzzKubeconfig
fuzz: deps
	$(SWIFT) build --package-path Fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t .build-fuzz/crashes/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  .build-fuzz/debug/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/crashes/$$t/ .build-fuzz/corpus/$$t Fuzz/Corpus/$$t 2>&1 | grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|.*Fatal error)" ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || { echo "$$t found a crash: see .build-fuzz/crashes/$$t"; exit 1; }; \
	done

clean:
	rm -rf .build .build-deps .sandbox
