"""CPU of each process during the profiled delivery job, per delivered event.

Reads `perf script -F pid,tid,comm` (stdin) and DIR/delivery.json; writes a
markdown table: the share of the samples and the CPU microseconds per
delivered event of each kind of process on the local stack. perf names
threads, not processes, so a process is known by its threads' names.
`bench/tools.sh fold` runs it (docs/performance.md, "Where the CPU goes").
"""

import collections
import json
import re
import sys

SAMPLE_HZ = 499  # crates/replay-lab/src/bench/profile.rs


def kind(thread_names: set[str]) -> str:
    if "bootstrap" in thread_names:
        return "functions (workers, API)"
    if "python" in thread_names:
        return "LocalStack (Python)"
    if "mariadbd" in thread_names:
        return "MariaDB"
    if any(t.startswith("data-plane") or "kafka" in t.lower() for t in thread_names):
        return "Kafka (Java)"
    if any(t.startswith(("SQLiteQueue", "qtp")) for t in thread_names):
        return "DynamoDB Local (Java)"
    if "replay-lab" in thread_names:
        return "the bench and its receiver"
    if "swapper" in thread_names:
        return "idle"
    return "other"


def main() -> None:
    delivery = json.load(open(sys.argv[1]))
    events = delivery["delivery"]["events"]
    threads: dict[str, set[str]] = collections.defaultdict(set)
    samples: collections.Counter[str] = collections.Counter()
    for line in sys.stdin:
        m = re.match(r"\s*(.+?)\s+(\d+)/(\d+)\s*$", line)
        if m:
            threads[m.group(2)].add(m.group(1))
            samples[m.group(2)] += 1
    by_kind: collections.Counter[str] = collections.Counter()
    for pid, n in samples.items():
        by_kind[kind(threads[pid])] += n
    total = sum(by_kind.values())
    print(f"{events} events delivered; {total} samples at {SAMPLE_HZ} Hz per CPU\n")
    print("| process | share of the samples | CPU µs per delivered event |")
    print("|---|---|---|")
    for name, n in by_kind.most_common():
        print(f"| {name} | {100 * n / total:.1f}% | {n / SAMPLE_HZ / events * 1e6:.0f} |")


if __name__ == "__main__":
    main()
