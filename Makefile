# activity-replay: one entry point for the local stack, the demo and the tests.
# Every target that needs services brings them up first (idempotent).
SHELL := /bin/bash
ENV := source infra/local/env.sh &&

.PHONY: up down status build demo test unit lint fmt sam-build bench bench-tiny

up:
	infra/local/up.sh

down:
	infra/local/down.sh

status:
	infra/local/status.sh

build:
	$(ENV) cargo build --workspace --bins

## The main job: a local replay end to end (seed, register, replay, verify).
demo: up build
	$(ENV) target/debug/replayctl demo

## Everything: formatting, lints, unit tests, integration and end-to-end tests,
## then the Lambda build (sam build) and the checks on its binaries.
test: up lint
	$(ENV) cargo build --workspace --bins --tests
	$(ENV) cargo test --workspace --no-fail-fast
	$(MAKE) sam-build

## `sam build` without Docker (arm64, cargo lambda + zig), then check that the
## bootstrap binaries load on provided.al2023 (glibc, architecture, libraries, size).
sam-build:
	infra/sam/build.sh

## Benchmarks (release build, 1M-record log): bench/results.json, results.md, speedup.png.
bench: up
	$(ENV) cargo build --release --workspace --bins
	bench/tools.sh
	$(ENV) RUST_LOG=warn target/release/replayctl bench --bin-dir target/release --out bench
	bench/tools.sh plot bench

## The same command in a tiny configuration on the debug build (CI keeps it working).
bench-tiny: up build
	bench/tools.sh
	$(ENV) RUST_LOG=warn target/debug/replayctl bench --tiny --bin-dir target/debug --out bench/out/tiny
	bench/tools.sh plot bench/out/tiny

unit:
	cargo test --workspace --lib --bins

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	infra/sam/lint.sh

fmt:
	cargo fmt --all
