# Helpers shared by up.sh, status.sh, down.sh (bash only). Needs env.sh first.

log() { printf '[local %3ss] %s\n' "$SECONDS" "$*" >&2; }   # seconds since the script started
die() { log "ERROR: $*"; exit 1; }

# Service name -> a string its /proc/PID/cmdline must contain. Guards against a
# stale PID file pointing at a PID the OS has since reused for something else.
svc_pattern() {
  case "$1" in
    mariadb) echo mariadbd ;;
    kafka) echo kafka.Kafka ;;
    localstack) echo localstack.runtime.main ;;
    dynamodb) echo DynamoDBLocal.jar ;;
    *) return 1 ;;
  esac
}

pidfile() { echo "$LOCAL_RUN/$1.pid"; }

# Live and not a zombie (a reaped-late zombie still answers kill -0).
alive() { [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# Prints the PID if the PID file names a live process of that service.
our_pid() {
  local f pid pat
  f=$(pidfile "$1"); pat=$(svc_pattern "$1")
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  local cmd; cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$pat"* ]] || return 1
  echo "$pid"
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# --- health checks: exit 0 when the service answers a real request ---
mariadb_ok() {
  if command -v mariadb-admin >/dev/null; then
    # ping exits 0 whenever the server answers, even with "access denied".
    # As the app user: once it exists, no "access denied" warning per check.
    mariadb-admin --protocol=tcp -h"$MARIADB_HOST" -P"$MARIADB_PORT" -u"$MARIADB_USER" -p"$MARIADB_PASSWORD" \
      --connect-timeout=2 ping >/dev/null 2>&1
  else
    port_open "$MARIADB_HOST" "$MARIADB_PORT"
  fi
}

# A real Kafka Metadata request (v4; Kafka 4 dropped v0-v3). Ready once the
# broker lists itself, i.e. it registered with the controller and is unfenced.
kafka_ok() {
  python3 - "$KAFKA_HOST" "$KAFKA_PORT" <<'PY' 2>/dev/null
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
cid = b"local-ready"
body = struct.pack(">hhih", 3, 4, 7, len(cid)) + cid + struct.pack(">ib", -1, 0)
with socket.create_connection((host, port), timeout=2) as s:
    s.settimeout(2)
    s.sendall(struct.pack(">i", len(body)) + body)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    size, = struct.unpack(">i", read(4))
    resp = read(size)
corr, _throttle, nbrokers = struct.unpack(">iii", resp[:12])
sys.exit(0 if corr == 7 and nbrokers >= 1 else 1)
PY
}

localstack_ok() {
  local h; h=$(curl -fsS -m 2 "http://127.0.0.1:$LOCALSTACK_PORT/_localstack/health" 2>/dev/null) || return 1
  [[ $h =~ \"sqs\":\ *\"(available|running)\" && $h =~ \"lambda\":\ *\"(available|running)\" ]]
}

# Function processes the host executor started and LocalStack did not stop
# (it was killed): their PID files are in $HOST_EXECUTOR_PID_DIR.
kill_orphan_bootstraps() {
  local f pid n=0
  for f in "$HOST_EXECUTOR_PID_DIR"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(<"$f")
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid"; then kill -KILL "$pid" 2>/dev/null && n=$((n + 1)); fi
    rm -f "$f"
  done
  (( n == 0 )) || log "stopped $n function process(es) left behind"
}

# DynamoDB Local accepts any credentials but wants a SigV4-shaped header.
dynamodb_ok() {
  local r; r=$(curl -fsS -m 2 -X POST "http://127.0.0.1:$DYNAMODB_PORT/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' 2>/dev/null) || return 1
  [[ $r == *TableNames* ]]
}

svc_port() {
  case "$1" in
    mariadb) echo "$MARIADB_HOST:$MARIADB_PORT" ;;
    kafka) echo "$KAFKA_HOST:$KAFKA_PORT" ;;
    localstack) echo "127.0.0.1:$LOCALSTACK_PORT" ;;
    dynamodb) echo "*:$DYNAMODB_PORT" ;;
  esac
}

# "NAME up|down ADDR pid N (ours)|external|-" on one line.
status_line() {
  local name=$1 state=down who=- pid
  if "${name}_ok"; then state=up; fi
  if pid=$(our_pid "$name"); then who="pid $pid (ours)"; elif [[ $state == up ]]; then who=external; fi
  printf '%-11s %-5s %-16s %s\n' "$name" "$state" "$(svc_port "$name")" "$who"
}

# Start a command detached (own session, so it outlives the caller's process
# group), stdout+stderr to LOG. The PID file is written by the process itself
# just before exec, so it is exactly the server's PID.
start_bg() {
  local name=$1 logf=$2; shift 2
  local pf; pf=$(pidfile "$name")
  rm -f "$pf"
  # 9>&-: do not hand up.sh's lock to the server (it would hold it forever).
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pf" "$@" >>"$logf" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 50); do [[ -s $pf ]] && return 0; sleep 0.05; done
  die "$name: no PID file after start"
}

show_logs() { local f; for f in "$@"; do [[ -f $f ]] && { log "--- last lines of $f:"; tail -n 30 "$f" >&2; }; done; true; }

# wait_healthy NAME TIMEOUT_S LOGFILE...: poll NAME_ok; fail early if our process died.
wait_healthy() {
  local name=$1 timeout=$2 start=$SECONDS; shift 2
  while ! "${name}_ok"; do
    if [[ -f $(pidfile "$name") ]] && ! our_pid "$name" >/dev/null; then
      log "$name exited during startup"; show_logs "$@"; exit 1
    fi
    if (( SECONDS - start >= timeout )); then
      log "$name not healthy after ${timeout}s"; show_logs "$@"; exit 1
    fi
    sleep 0.25
  done
}

# stop_svc NAME: SIGTERM our PID, wait up to 20 s, then SIGKILL; drop the PID file.
stop_svc() {
  local name=$1 pid pf i
  pf=$(pidfile "$name")
  if ! pid=$(our_pid "$name"); then
    [[ -f $pf ]] && { log "$name: stale PID file removed"; rm -f "$pf"; }
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 80); do alive "$pid" || break; sleep 0.25; done
  if alive "$pid"; then
    log "$name did not stop in 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pf"
}
