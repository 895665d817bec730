# Sourced by lint.sh and build.sh: the pinned SAM CLI in .local/venvs/sam
# (installed from PyPI when missing) and an offline, account-free environment.
# Defines SAM (the CLI's path) and REPO_ROOT.

SAM_CLI_VERSION=1.170.0
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SAM_VENV="$REPO_ROOT/.local/venvs/sam"
SAM="$SAM_VENV/bin/sam"

sam_installed_version() {
    "$SAM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aws-sam-cli"))' 2>/dev/null || true
}

if [[ "$(sam_installed_version)" != "$SAM_CLI_VERSION" ]]; then
    echo "sam: installing aws-sam-cli==$SAM_CLI_VERSION into ${SAM_VENV#"$REPO_ROOT"/}" >&2
    if [[ ! -x "$SAM_VENV/bin/python" ]]; then
        "${PYTHON:-python3}" -m venv "$SAM_VENV"
    fi
    "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi

# A region and dummy credentials so nothing looks for a profile, no telemetry,
# and SAM's settings kept inside the venv with the weekly PyPI version check
# marked as just done.
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=sam-offline AWS_SECRET_ACCESS_KEY=sam-offline
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0
export __SAM_CLI_APP_DIR="$SAM_VENV/sam-app-dir"
mkdir -p "$__SAM_CLI_APP_DIR"
printf '{"lastVersionCheck": %s}\n' "$(date +%s)" > "$__SAM_CLI_APP_DIR/metadata.json"
