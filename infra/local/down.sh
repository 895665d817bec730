#!/usr/bin/env bash
# Stop only what up.sh started, found by its PID files (SIGTERM, up to 20 s,
# then SIGKILL). A server that was already running before up.sh (e.g. an
# external MariaDB on 3306) has no PID file and is never touched.
# Usage: down.sh [SERVICE...]   (default: all; e.g. `down.sh kafka` stops only
# the broker, and up.sh starts it again: the broker-restart fault test does so).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/env.sh"
. "$here/lib.sh"

# Not while an up.sh is starting things (same lock as up.sh).
mkdir -p "$STATE"
exec 9>"$STATE/.up.lock"
flock 9

# Reverse start order. Kafka and MariaDB shut down cleanly on SIGTERM.
services=("$@")
(( ${#services[@]} )) || services=(localstack dynamodb kafka mariadb)
for s in "${services[@]}"; do
  svc_pattern "$s" >/dev/null || die "unknown service '$s' (mariadb, kafka, localstack, dynamodb)"
  stop_svc "$s"
  # LocalStack stops its functions' processes; any it could not are ended here.
  [[ $s != localstack ]] || kill_orphan_bootstraps
done
for s in mariadb kafka localstack dynamodb; do status_line "$s"; done
