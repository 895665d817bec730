#!/usr/bin/env bash
# The benchmark's tools, installed when missing (idempotent):
#   bench/tools.sh            wrk (Debian package) for the receiver's capacity,
#                             kcat comes with infra/local/up.sh;
#   bench/tools.sh plot DIR   DIR/results.json -> DIR/speedup.png, with
#                             matplotlib in .local/venvs/plot (PyPI);
#   bench/tools.sh install    both installs, nothing run (CI does them
#                             beside the build, where they wait on the network).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
venv="$root/.local/venvs/plot"

install_matplotlib() {
  if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "bench: installing matplotlib into ${venv#"$root"/}" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'matplotlib==3.10.*'
  fi
}

install_wrk() {
  if ! command -v wrk >/dev/null; then
    SUDO=; [[ $EUID -eq 0 ]] || SUDO="sudo -n"
    echo "bench: installing wrk (apt)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
      { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || { echo "bench: wrk is missing and could not be installed" >&2; exit 1; }
}

case ${1:-} in
  plot)
    dir=${2:?usage: bench/tools.sh plot DIR}
    install_matplotlib
    exec "$venv/bin/python" "$here/plot_speedup.py" "$dir/results.json" "$dir/speedup.png"
    ;;
  install)
    install_wrk
    install_matplotlib
    ;;
  "") install_wrk ;;
  *) echo "usage: bench/tools.sh [plot DIR | install]" >&2; exit 2 ;;
esac
