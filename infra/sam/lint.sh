#!/usr/bin/env bash
# Lints template.yaml without an AWS account:
#   1. `sam validate --lint` (SAM transform + cfn-lint; fails on any error or warning),
#   2. infra/sam/check_template_matches_code.py (the template creates what the
#      Rust functions read and call, within the connection budget), and its own
#      tests (infra/sam/test_check_template.py: broken copies are refused).
# Idempotent; the only network it uses is PyPI, to install the SAM CLI once.
set -euo pipefail
# shellcheck source=sam-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/sam-env.sh"
cd "$REPO_ROOT"

echo "lint: sam validate --lint --template template.yaml" >&2
"$SAM" validate --lint --template template.yaml

echo "lint: infra/sam/check_template_matches_code.py" >&2
"$SAM_VENV/bin/python" infra/sam/check_template_matches_code.py --repo "$REPO_ROOT" --template template.yaml

echo "lint: infra/sam/test_check_template.py" >&2
"$SAM_VENV/bin/python" -m unittest -q infra/sam/test_check_template.py
echo "lint: infra/sam/test_check_binaries.py" >&2
"$SAM_VENV/bin/python" -m unittest -q infra/sam/test_check_binaries.py
