# activity-replay: one entry point for the local stack, the demo and the tests.
# Every target that needs services brings them up first (idempotent).
SHELL := /bin/bash
ENV := source infra/local/env.sh &&
# The test build is the lint: clippy's driver compiles the workspace's crates
# (lints and code in one pass, `-D warnings`) instead of a separate `cargo
# clippy`, which would type-check every dependency a second time (minutes of
# CI). CLIPPY_ARGS is how `cargo clippy` itself passes arguments to the driver.
# Every command of `make test` uses it: a build without it recompiles the
# workspace's crates.
LINTED := $(ENV) RUSTC_WORKSPACE_WRAPPER="$$(rustup which clippy-driver)" CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
LAB := target/debug/replay-lab
# Integration tests wait on LocalStack, Kafka and slow receivers, not on the
# CPU: more of them at once than the machine has cores.
IT_THREADS ?= 4
# Local builds arm the lifecycle tests' crash points (REPLAY_SETTINGS
# FAILPOINTS); `sam build`, the AWS build, never does.
FEATURES := --features replay-core/failpoints

.PHONY: up services down status build build-all check-libs deploy demo test unit executor-tests integration lint fmt sam-build bench profile bench-tiny openapi completions workspace-hack

## The local stack: services, the host's build of the functions, template.yaml
## deployed to LocalStack (`activity-replay-local`); prints the API URL.
up: services build
	$(ENV) $(LAB) deploy

## Only the servers (MariaDB, Kafka, LocalStack with its host executor, DynamoDB Local).
services:
	infra/local/up.sh

down:
	infra/local/down.sh

status:
	infra/local/status.sh

build:
	$(ENV) cargo build --workspace --bins $(FEATURES)

## The main job: a local replay end to end through API Gateway (deploy, seed, register, replay, verify).
demo: services build
	$(ENV) $(LAB) demo

## Everything CI runs: formatting, lints, unit tests, the executor's tests,
## integration and end-to-end tests through deployed stacks. The Lambda
## packages (`make sam-build`, arm64) are built before a deploy, not here.
test: services lint
	$(MAKE) unit executor-tests integration

## Every crate's own tests: unit tests, the OpenAPI drift test, the client's
## retry rules, the CLI's completions and exit codes, doc examples.
unit:
	$(LINTED) cargo test --workspace --exclude replay-integration-tests $(FEATURES)

executor-tests:
	$(ENV) "$$LOCALSTACK_VENV/bin/python" -m pytest -q infra/local/localstack-host-executor/tests

## Each test deploys a stack of its own; broker_restart restarts the shared
## broker, so it runs alone, after the others. `--workspace` keeps the
## dependencies' features those of the lint build, which is then reused.
integration:
	$(LINTED) cargo test --workspace $(FEATURES) --test it --no-fail-fast -- --test-threads $(IT_THREADS)
	$(LINTED) cargo test --workspace $(FEATURES) --test broker_restart

## `sam build` without Docker (arm64, cargo lambda + zig), then check that the
## bootstrap binaries load on provided.al2023 (glibc, architecture, libraries, size).
sam-build:
	infra/sam/build.sh

## Benchmarks (release build, 1M-record log and logs of 3M and 10M): bench/results.json, results.md, speedup.png, growth.png.
bench: services
	$(ENV) cargo build --release --workspace --bins
	bench/tools.sh
	$(ENV) RUST_LOG=warn target/release/replay-lab bench --bin-dir target/release --out bench
	bench/tools.sh plot bench

## Where the CPU goes during the delivery figure (perf, every process; not in
## CI): bench/profile/flamegraph-delivery.svg and cpu-by-binary.txt. A build of
## its own, with symbols and frame pointers (docs/performance.md).
profile: services
	$(ENV) RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling --workspace --bins
	bench/tools.sh
	$(ENV) RUST_LOG=warn target/profiling/replay-lab bench --profile --bin-dir target/profiling --out bench
	bench/tools.sh fold bench/profile

## The same command in a tiny configuration on the debug build (CI keeps it
## working, after `make test`, whose build it reuses).
bench-tiny: services build-all
	bench/tools.sh
	$(ENV) RUST_LOG=warn $(LAB) bench --tiny --bin-dir target/debug --out bench/out/tiny
	bench/tools.sh plot bench/out/tiny

## rustfmt, then the build of every target with clippy's lints, then the template's lints, then the
## docs check (every link, anchor and cited heading inside the repository resolves).
lint:
	cargo fmt --all --check
	$(MAKE) build-all
	infra/sam/lint.sh
	python3 infra/docs/check_docs.py
	python3 -m unittest -q infra/docs/test_check_docs.py

## The published libraries (client, producer, types), each built alone with
## only its own features, as a platform embedding one builds it; not in CI
## (a second build of their dependencies), run before a release.
check-libs:
	$(ENV) for p in activity-replay-types activity-replay-client activity-replay-producer; do \
		cargo check --locked -p $$p --all-targets || exit 1; done

## Every target of every crate (tests included), built once with clippy's
## lints: what `make test` and `make bench-tiny` run.
build-all:
	$(LINTED) cargo build --workspace --all-targets --locked $(FEATURES)

fmt:
	cargo fmt --all

## Generated files, committed; tests fail when they are stale.
openapi:
	cargo run -q -p activity-replay-types --example openapi > docs/openapi.json

## crates/workspace-hack: one feature set for every dependency, whatever a
## command builds (see Cargo.toml); run after adding or changing a dependency.
workspace-hack:
	command -v cargo-hakari >/dev/null || cargo install cargo-hakari --locked --version 0.9.39
	cargo hakari generate

completions: build
	mkdir -p completions
	for shell in bash zsh fish; do target/debug/replayctl completions $$shell > completions/replayctl.$$shell; done
