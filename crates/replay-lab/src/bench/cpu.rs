//! Where the cores go during a measurement: the CPU time of each kind of
//! process on the local stack (the functions, LocalStack, Kafka, DynamoDB
//! Local, MariaDB, the bench with its receiver), from `/proc/<pid>/stat`
//! before and after (figure 4). A process that ends between the two is not
//! counted; the functions' processes stay warm across a job, and those that
//! start during it count from zero.

use anyhow::Result;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::Instant;

/// Linux reports utime and stime in USER_HZ ticks, 100 per second on every
/// architecture it runs on here (x86_64, arm64).
const TICKS_PER_SECOND: f64 = 100.0;

/// The kinds in the order the report shows them.
pub(super) const KINDS: [&str; 7] =
    ["functions", "LocalStack", "Kafka", "DynamoDB Local", "MariaDB", "bench + receiver", "other"];

pub(super) struct CpuSnapshot {
    at: Instant,
    /// pid -> (kind, CPU ticks so far)
    ticks: HashMap<u32, (&'static str, u64)>,
}

fn kind_of(comm: &str, cmdline: &str) -> &'static str {
    match comm {
        "bootstrap" => "functions",
        "mariadbd" | "mysqld" => "MariaDB",
        "replay-lab" => "bench + receiver",
        _ if cmdline.contains("localstack") => "LocalStack",
        _ if cmdline.contains("DynamoDBLocal") || cmdline.contains("dynamodb") => "DynamoDB Local",
        _ if cmdline.contains("kafka") => "Kafka",
        _ => "other",
    }
}

/// utime + stime of a process: fields 14 and 15 of its stat line, counted
/// after the command name's closing parenthesis (the name may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl CpuSnapshot {
    pub(super) fn take() -> Result<Self> {
        let mut ticks = HashMap::new();
        for entry in std::fs::read_dir("/proc")? {
            let entry = entry?;
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            // A process may end while it is read: it is simply not counted.
            let (Ok(stat), Ok(comm), Ok(cmdline)) = (
                std::fs::read_to_string(entry.path().join("stat")),
                std::fs::read_to_string(entry.path().join("comm")),
                std::fs::read(entry.path().join("cmdline")),
            ) else {
                continue;
            };
            let Some(t) = cpu_ticks(&stat) else { continue };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            ticks.insert(pid, (kind_of(comm.trim(), &cmdline), t));
        }
        Ok(Self { at: Instant::now(), ticks })
    }

    /// Cores used by each kind since `earlier` (CPU seconds per second).
    pub(super) fn cores_since(&self, earlier: &CpuSnapshot) -> Value {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64().max(1e-3);
        let mut by_kind: HashMap<&str, u64> = HashMap::new();
        for (pid, (kind, now)) in &self.ticks {
            let before = earlier.ticks.get(pid).map_or(0, |(_, t)| *t);
            *by_kind.entry(kind).or_default() += now.saturating_sub(before);
        }
        let mut cores = Map::new();
        for kind in KINDS {
            let used = by_kind.get(kind).copied().unwrap_or(0) as f64 / TICKS_PER_SECOND / seconds;
            cores.insert(kind.into(), Value::from((used * 100.0).round() / 100.0));
        }
        Value::Object(cores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (C2 Compiler (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 30 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 56));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn sorts_the_stacks_processes_into_kinds() {
        assert_eq!(kind_of("bootstrap", "/var/task/bootstrap"), "functions");
        assert_eq!(kind_of("python", ".local/venvs/localstack/bin/python -m localstack.runtime.main"), "LocalStack");
        assert_eq!(kind_of("java", "java -Xmx1g -Dkafka.logs.dir=x kafka.Kafka"), "Kafka");
        assert_eq!(
            kind_of("java", "java -Djava.library.path=x/DynamoDBLocal_lib -jar DynamoDBLocal.jar"),
            "DynamoDB Local"
        );
        assert_eq!(kind_of("mariadbd", "/usr/sbin/mariadbd"), "MariaDB");
        assert_eq!(kind_of("sshd", "sshd"), "other");
    }

    #[test]
    fn this_process_uses_cpu_between_two_snapshots() {
        // Spins until its own CPU time shows, however busy the machine is.
        let me = std::process::id();
        let before = CpuSnapshot::take().unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        loop {
            let spin = Instant::now();
            while spin.elapsed().as_millis() < 50 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            let after = CpuSnapshot::take().unwrap();
            if after.ticks[&me].1 >= before.ticks[&me].1 + 5 {
                let cores = after.cores_since(&before);
                // This test's process is in "other": some kind used CPU.
                let used: f64 =
                    cores.as_object().into_iter().flat_map(|kinds| kinds.values()).filter_map(Value::as_f64).sum();
                assert!(used > 0.0, "{cores}");
                break;
            }
            assert!(started.elapsed().as_secs() < 60, "a minute of spinning never showed in /proc ({x})");
        }
    }
}
