#!/usr/bin/env bash
# `sam build` as a user runs it before `sam deploy`, without Docker, then
# checks that the bootstrap binaries it made will load on Lambda
# (infra/sam/check_binaries.py). Output: .aws-sam/build (what `sam deploy` uploads).
#
# What the build needs, installed here when missing: the pinned SAM CLI,
# cargo-lambda (with its zig, which links against an older glibc than the
# host's), and curl's headers, which librdkafka's bundled build includes even
# with curl turned off. zig sees only a folder holding curl's headers: pointing
# it at all of /usr/include would mix the host's glibc headers in.
set -euo pipefail
# shellcheck source=sam-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/sam-env.sh"
# Sourcing up.sh defines its install steps without starting any server.
# shellcheck source=../local/up.sh
. "$REPO_ROOT/infra/local/up.sh"
cd "$REPO_ROOT"

install_apt           # libcurl4-openssl-dev
install_cargo_lambda

curl_dir=""
for d in "/usr/include/$(gcc -dumpmachine 2>/dev/null)/curl" /usr/include/x86_64-linux-gnu/curl /usr/include/curl; do
    [[ -f $d/curl.h ]] && { curl_dir=$d; break; }
done
[[ -n $curl_dir ]] || die "curl/curl.h not found (apt-get install libcurl4-openssl-dev)"
headers="$STATE/sam/curl-headers"
rm -rf "$headers" && mkdir -p "$headers" && cp -r "$curl_dir" "$headers/curl"
export CFLAGS_aarch64_unknown_linux_gnu="-I$headers" CFLAGS_x86_64_unknown_linux_gnu="-I$headers"

# cargo-lambda's own directory first on PATH, so `cargo lambda` finds its zig.
export PATH="$CARGO_LAMBDA_VENV/bin:$PATH"

# The packages carry their own OpenSSL (rdkafka's ssl-vendored): env.sh's
# host-build shortcut must not reach them.
unset OPENSSL_NO_VENDOR
# One `cargo lambda build` of the three binaries first, exactly as SAM builds
# each: SAM runs one build per function (rust-cargolambda), which then finds
# its binary built, so the workspace compiles and links once, the three final
# links side by side (docs/deploy.md, "Building").
read -r -a one_build <<<"$("$SAM_VENV/bin/python" infra/sam/check_binaries.py --template template.yaml --cargo-lambda-args)"
if ((${#one_build[@]})); then
    log "cargo ${one_build[*]} (release, cargo lambda + zig; the first build compiles everything)"
    cargo "${one_build[@]}"
fi
log "sam build (each function's cargo lambda build finds its binary built)"
# --no-cached: cargo's target/ already makes a rebuild incremental (the build
# runs in the source tree), while SAM's cache would hash the whole code
# directory, target/ and .local/ included (gigabytes), for every function.
"$SAM" build --no-cached --template template.yaml

log "checking the bootstrap binaries"
"$SAM_VENV/bin/python" infra/sam/check_binaries.py --template template.yaml --build-dir .aws-sam/build
