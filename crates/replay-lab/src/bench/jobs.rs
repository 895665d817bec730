//! Jobs: created in process or over HTTP, drained by an in-process worker, awaited.

use super::*;

impl Lab {
    /// The API function's context with `env`'s settings, built once per measurement.
    pub(super) async fn api(&self, env: &VecEnv) -> Result<ApiContext> {
        Ok(ApiContext::connect(env.settings()?, &self.aws).await?)
    }

    /// Creates a job in-process (the API function's code path).
    pub(super) async fn create_job(&self, api: &ApiContext, webhook: &WebhookId, from: i64, to: i64) -> Result<JobId> {
        let to = to.min(chrono::Utc::now().timestamp_millis() - 1_000);
        let everything = replay_client::Selection::default();
        let ask = NewReplay::window(webhook, EventTime(from), EventTime(to), &everything);
        Ok(api.create_replay(&self.data.tenant, ask).await?.job_id)
    }
}

impl Lab {
    pub(super) fn client(&self, deployed: &Deployed) -> Client {
        Client::new(&deployed.api_url, &self.data.api_key)
    }

    /// Creates a job through the stack's API.
    pub(super) async fn create_job_http(
        &self,
        deployed: &Deployed,
        webhook: &WebhookId,
        from: i64,
        to: i64,
    ) -> Result<JobId> {
        let to = to.min(chrono::Utc::now().timestamp_millis() - 1_000);
        let fmt = |ms: i64| EventTime(ms).to_rfc3339();
        let job = self.client(deployed).start_replay(webhook, &CreateReplayRequest::window(fmt(from), fmt(to))).await?;
        Ok(job.job_id)
    }
}

pub(super) async fn wait_for_end(store: &MySqlStore, job: &JobId, timeout: Duration) -> Result<Counters> {
    let started = Instant::now();
    loop {
        if let Some(view) = store.job_view(None, job).await? {
            if view.state.is_terminal() {
                if view.state != JobState::Completed {
                    bail!("job {job} ended {:?}: {:?}", view.state, view.state_reason);
                }
                return Ok(view.progress.counters);
            }
        }
        if started.elapsed() > timeout {
            bail!("job {job} did not end within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every measured replay delivers exactly what the seed manifest says: the
/// job's count, and what the receiver's `hook` accepted for it.
pub(super) fn check_delivered(
    receiver: &Receiver,
    hook: &str,
    what: &str,
    job: &JobId,
    counters: &Counters,
    expected: usize,
) -> Result<()> {
    let arrived = receiver.arrivals(hook, job.as_str()).map_or(0, |a| a.count);
    if counters.events_delivered as usize != expected || arrived != counters.events_delivered {
        bail!("{what}: {} delivered, {arrived} arrived, {expected} expected", counters.events_delivered);
    }
    Ok(())
}

/// Time inside the worker's handler, and when it picked up the first message.
pub(super) struct Handled {
    pub(super) handling: Duration,
    pub(super) first_pickup: Option<Instant>,
}

/// Plays the event-source mapping in-process until the job ends.
pub(super) async fn drain_in_process(lab: &Lab, worker: &WorkerContext, job: &JobId) -> Result<Handled> {
    let Lab { sqs, queue_url, store, .. } = lab;
    let mut handled = Handled { handling: Duration::ZERO, first_pickup: None };
    let started = Instant::now();
    loop {
        if let Some(view) = store.job_view(None, job).await? {
            if view.state.is_terminal() {
                return Ok(handled);
            }
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("job {job} did not end in-process");
        }
        let out =
            sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).wait_time_seconds(1).send().await?;
        for m in out.messages.unwrap_or_default() {
            let t = Instant::now();
            handled.first_pickup.get_or_insert(t);
            let deadline = t + Duration::from_secs(600);
            let message = Inbound { body: m.body.as_deref().unwrap_or_default(), handbacks: 0 };
            let result = handle_message(worker, &message, "bench", deadline).await;
            handled.handling += t.elapsed();
            result?;
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await?;
        }
    }
}
