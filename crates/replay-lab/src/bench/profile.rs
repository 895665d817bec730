//! `make profile`: where the CPU goes while a replay delivers. The delivery
//! figure's measured job runs under a system-wide `perf record` (every
//! process on the machine: the worker functions, librdkafka's threads, Kafka,
//! LocalStack, MariaDB, the receiver), sampled on the CPU clock with frame
//! pointers; `bench/tools.sh fold` turns the samples into a flame graph
//! (inferno) and the CPU share of each binary (docs/performance.md, "Where
//! the CPU goes").

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Samples per second per CPU: enough for a 30 s job, small enough that
/// `perf` itself stays out of the picture.
const SAMPLE_HZ: u32 = 499;

pub(super) struct Profiler {
    perf: Child,
    data: PathBuf,
}

impl Profiler {
    /// Starts recording into `dir/perf.data`.
    pub(super) async fn start(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let data = dir.join("perf.data");
        let perf = Command::new("perf")
            .args(["record", "--all-cpus", "--call-graph", "fp", "-e", "cpu-clock"])
            .arg(format!("--freq={SAMPLE_HZ}"))
            .arg("--output")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("perf is not installed (Debian: linux-perf)")?;
        let mut profiler = Self { perf, data };
        // perf opens its events in a few milliseconds; one that cannot
        // (perf_event_paranoid, no permission) exits at once.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(status) = profiler.perf.try_wait()? {
            let mut why = String::new();
            if let Some(mut stderr) = profiler.perf.stderr.take() {
                std::io::Read::read_to_string(&mut stderr, &mut why)?;
            }
            bail!("perf record exited at once ({status}): {}", why.trim());
        }
        Ok(profiler)
    }

    /// Stops recording (SIGINT, as Ctrl-C: perf writes its data and exits).
    pub(super) fn stop(mut self) -> Result<PathBuf> {
        let interrupted = Command::new("kill").args(["-INT", &self.perf.id().to_string()]).status()?;
        if !interrupted.success() {
            bail!("could not interrupt perf record");
        }
        let status = self.perf.wait()?;
        // perf exits with the signal's status after a clean interrupt.
        if !status.success() && status.code().is_some_and(|c| c != 130 && c != 2) {
            bail!("perf record failed: {status}");
        }
        Ok(std::mem::take(&mut self.data))
    }
}

/// A job that failed between `start` and `stop` leaves no system-wide
/// recording behind: perf is interrupted and waited for.
impl Drop for Profiler {
    fn drop(&mut self) {
        if matches!(self.perf.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-INT", &self.perf.id().to_string()]).status();
            let _ = self.perf.wait();
        }
    }
}
