#!/usr/bin/env bash
# Lints template.yaml without an AWS account:
#   1. `sam validate --lint` (SAM transform + cfn-lint; fails on any error or warning),
#   2. infra/sam/check_template_matches_code.py (the template creates what the
#      Rust functions read and call).
# Idempotent: installs the SAM CLI into .local/venvs/sam (gitignored) when it
# is missing or not the pinned version; the only network it uses is PyPI, for
# that install.
set -euo pipefail

SAM_CLI_VERSION=1.170.0
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO_ROOT/.local/venvs/sam"
PYTHON="${PYTHON:-python3}"

cd "$REPO_ROOT"

installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aws-sam-cli"))' 2>/dev/null || true
}

if [[ "$(installed_version)" != "$SAM_CLI_VERSION" ]]; then
    echo "lint: installing aws-sam-cli==$SAM_CLI_VERSION into ${VENV#"$REPO_ROOT"/}" >&2
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi

# Offline: a region and dummy credentials so nothing looks for a profile, no
# telemetry, and SAM's settings kept inside the venv with the weekly PyPI
# version check marked as just done.
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=lint-dummy AWS_SECRET_ACCESS_KEY=lint-dummy
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0
export __SAM_CLI_APP_DIR="$VENV/sam-app-dir"
mkdir -p "$__SAM_CLI_APP_DIR"
printf '{"lastVersionCheck": %s}\n' "$(date +%s)" > "$__SAM_CLI_APP_DIR/metadata.json"

echo "lint: sam validate --lint --template template.yaml" >&2
"$VENV/bin/sam" validate --lint --template template.yaml

echo "lint: infra/sam/check_template_matches_code.py" >&2
"$VENV/bin/python" infra/sam/check_template_matches_code.py --repo "$REPO_ROOT" --template template.yaml
