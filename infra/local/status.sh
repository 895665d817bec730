#!/usr/bin/env bash
# One line per service: name, up/down, address, and "pid N" when up.sh started
# it (PID file under $STATE/run) or "external" when something else serves it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/env.sh"
. "$here/lib.sh"

rc=0
for s in mariadb kafka localstack dynamodb; do
  line=$(status_line "$s"); echo "$line"
  [[ $line == *" up "* ]] || rc=1
done
# The SAM stacks on LocalStack and their functions' processes.
if localstack_ok && [[ -x $LOCALSTACK_VENV/bin/python ]]; then
  "$LOCALSTACK_VENV/bin/python" "$LOCAL_INFRA/stack.py" status || rc=1
fi
exit "$rc"   # non-zero when any server is down, for scripts
