//! A job's progress for command-line tools: a bar redrawn in place on a
//! terminal, a plain line every few seconds otherwise (log files and CI
//! output get lines, not `\r` frames).

use crate::Job;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct JobProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
    every: Duration,
}

impl JobProgress {
    /// On stderr: a bar when it is a terminal, else a line every `every`.
    pub fn new(every: Duration) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("[{bar:20}] {pos}/{len} slices  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("#>-"),
            );
            bar
        });
        Self { bar, started: Instant::now(), last_line: None, every }
    }

    /// The summary of a job's progress, one line.
    pub fn line(&self, job: &Job) -> String {
        let p = &job.progress;
        let c = &p.counters;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = c.events_delivered as f64 / secs;
        let eta = if p.slices_done > 0 && p.slices_done < p.slices_total {
            format!("{:.0}s", secs / f64::from(p.slices_done) * f64::from(p.slices_total - p.slices_done))
        } else {
            "-".into()
        };
        format!(
            "{} delivered of {} matched, {} failed, {} duplicates, {} malformed  {rate:.0}/s  ETA {eta}  {}",
            c.events_delivered, c.events_matched, c.delivery_failures, c.duplicates_skipped, c.malformed, job.state
        )
    }

    pub fn update(&mut self, job: &Job) {
        let line = self.line(job);
        match &self.bar {
            Some(bar) => {
                bar.set_length(u64::from(job.progress.slices_total.max(1)));
                bar.set_position(u64::from(job.progress.slices_done));
                bar.set_message(line);
            }
            None => {
                if self.last_line.is_none_or(|t| t.elapsed() >= self.every) || job.state.is_terminal() {
                    eprintln!("{}/{} slices  {line}", job.progress.slices_done, job.progress.slices_total);
                    self.last_line = Some(Instant::now());
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
