#!/usr/bin/env bash
# The benchmark's tools, installed when missing (idempotent):
#   bench/tools.sh            wrk (Debian package) for the receiver's capacity,
#                             kcat comes with infra/local/up.sh;
#   bench/tools.sh plot DIR   DIR/results.json -> DIR/speedup.png and growth.png, with
#                             matplotlib in .local/venvs/plot (PyPI);
#   bench/tools.sh install    both installs, nothing run (CI does them
#                             beside the build, where they wait on the network);
#   bench/tools.sh fold DIR   DIR/perf.data (`make profile`) -> a flame graph
#                             (inferno, cargo-installed into .local) and the
#                             CPU share of each binary and thread; not in CI.
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
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk >/dev/null ||
      { $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || { echo "bench: wrk is missing and could not be installed" >&2; exit 1; }
}

install_inferno() {
  if ! [[ -x $root/.local/bin/inferno-flamegraph ]]; then
    echo "bench: installing inferno into .local/bin (cargo install)" >&2
    cargo install --quiet --locked --root "$root/.local" inferno
  fi
}

# perf.data -> flamegraph-delivery.svg, delivery.folded, cpu-by-binary.txt,
# cpu-by-process.md.
fold() {
  local dir=$1
  install_inferno
  # Frames of every process: the flame graph's first level is the thread's
  # name, so the worker's tokio threads, librdkafka's rdk:* threads, Kafka's
  # java and LocalStack's python stand side by side.
  perf script --input "$dir/perf.data" --no-inline 2>/dev/null |
    "$root/.local/bin/inferno-collapse-perf" >"$dir/delivery.folded"
  "$root/.local/bin/inferno-flamegraph" --title "CPU during the delivery figure's job (all processes, perf cpu-clock)" \
    <"$dir/delivery.folded" >"$dir/flamegraph-delivery.svg"
  {
    echo "# CPU samples during the delivery figure's job, by binary (dso) and by thread (comm)"
    perf report --input "$dir/perf.data" --stdio --no-children -g none --sort dso --percent-limit 0.5 2>/dev/null | grep -v '^$'
    perf report --input "$dir/perf.data" --stdio --no-children -g none --sort comm --percent-limit 0.5 2>/dev/null | grep -v '^$'
  } >"$dir/cpu-by-binary.txt"
  perf script --input "$dir/perf.data" -F pid,tid,comm 2>/dev/null |
    python3 "$here/cpu_by_process.py" "$dir/delivery.json" >"$dir/cpu-by-process.md"
  echo "bench: wrote $dir/flamegraph-delivery.svg, delivery.folded, cpu-by-binary.txt, cpu-by-process.md" >&2
}

case ${1:-} in
  fold) fold "${2:?usage: bench/tools.sh fold DIR}" ;;
  plot)
    dir=${2:?usage: bench/tools.sh plot DIR}
    install_matplotlib
    exec "$venv/bin/python" "$here/plot.py" "$dir"
    ;;
  install)
    install_wrk
    install_matplotlib
    ;;
  "") install_wrk ;;
  *) echo "usage: bench/tools.sh [plot DIR | install | fold DIR]" >&2; exit 2 ;;
esac
