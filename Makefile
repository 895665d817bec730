# activity-replay: one entry point for the local stack, the demo and the tests.
# Every target that needs services brings them up first (idempotent).
SHELL := /bin/bash
ENV := source infra/local/env.sh &&
LAB := target/debug/replay-lab
# Integration tests wait on LocalStack, Kafka and slow receivers, not on the
# CPU: more of them at once than the machine has cores.
IT_THREADS ?= 4
# Local builds arm the lifecycle tests' crash points (REPLAY_SETTINGS
# FAILPOINTS); `sam build`, the AWS build, never does.
FEATURES := --features replay-core/failpoints

.PHONY: up services down status build deploy demo test unit executor-tests integration lint fmt sam-build bench bench-tiny openapi completions workspace-hack

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

## Everything: formatting, lints, unit tests, the executor's tests, integration
## and end-to-end tests through the deployed stack, then the Lambda build
## (sam build) and the checks on its binaries.
test: services lint
	$(ENV) cargo build --workspace --bins --tests $(FEATURES)
	$(MAKE) unit executor-tests integration
	$(MAKE) sam-build

## Every crate's own tests: unit tests, the OpenAPI drift test, the client's
## retry rules, the CLI's completions and exit codes, doc examples.
unit:
	$(ENV) cargo test --workspace --exclude replay-integration-tests $(FEATURES)

executor-tests:
	$(ENV) "$$LOCALSTACK_VENV/bin/python" -m pytest -q infra/local/localstack-host-executor/tests

## Each test deploys a stack of its own; broker_restart restarts the shared
## broker, so it runs alone, after the others.
integration:
	$(ENV) cargo test -p replay-integration-tests $(FEATURES) --test it --no-fail-fast -- --test-threads $(IT_THREADS)
	$(ENV) cargo test -p replay-integration-tests $(FEATURES) --test broker_restart

## `sam build` without Docker (arm64, cargo lambda + zig), then check that the
## bootstrap binaries load on provided.al2023 (glibc, architecture, libraries, size).
sam-build:
	infra/sam/build.sh

## Benchmarks (release build, 1M-record log): bench/results.json, results.md, speedup.png.
bench: services
	$(ENV) cargo build --release --workspace --bins
	bench/tools.sh
	$(ENV) RUST_LOG=warn target/release/replay-lab bench --bin-dir target/release --out bench
	bench/tools.sh plot bench

## The same command in a tiny configuration on the debug build (CI keeps it working).
bench-tiny: services build
	bench/tools.sh
	$(ENV) RUST_LOG=warn $(LAB) bench --tiny --bin-dir target/debug --out bench/out/tiny
	bench/tools.sh plot bench/out/tiny

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked $(FEATURES) -- -D warnings
	infra/sam/lint.sh

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
