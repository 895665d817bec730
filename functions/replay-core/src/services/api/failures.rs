//! A job's failure list: pages in event id order, or NDJSON within
//! Lambda's response limit (docs/api.md, "Failure report and retry").

use super::ApiContext;
use crate::domain::ids::{JobId, TenantId};
use crate::error::{Error, Result};
use replay_types::FailurePage;

impl ApiContext {
    /// A page of a job's failure list, in event id order.
    pub async fn failures(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<FailurePage> {
        self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_FAILURES_PER_PAGE);
        let mut failures = self.store.failure_page(job_id, after.as_deref(), limit + 1).await?;
        let next_cursor = if failures.len() > limit as usize {
            failures.truncate(limit as usize);
            failures.last().map(|f| encode_cursor(&f.event_id))
        } else {
            None
        };
        Ok(FailurePage { failures, next_cursor })
    }
}

/// Largest page of `GET /v1/replays/{id}/failures`.
pub const MAX_FAILURES_PER_PAGE: u32 = 1_000;

/// Bytes of lines one NDJSON answer of the failure list carries at most,
/// counted as escaped into Lambda's JSON envelope (a quote takes two bytes
/// there, more inside a string the line already escaped): Lambda refuses a
/// response over 6 MB, so a third stays free.
pub const MAX_FAILURES_NDJSON_BYTES: usize = 4 * 1024 * 1024;

/// One NDJSON answer of the failure list, and where the next one starts.
#[derive(Debug)]
pub struct FailureLines {
    pub text: String,
    /// Set when the list goes on past this answer's bytes.
    pub next_cursor: Option<String>,
}

/// Appends `failures` as JSON lines while `text`, escaped into a JSON
/// string, stays within `max_bytes` (the first line of an answer always goes
/// in); how many went in.
pub fn append_lines(text: &mut String, failures: &[replay_types::Failure], max_bytes: usize) -> Result<usize> {
    let escaped_len = |s: &str| serde_json::to_string(s).map(|j| j.len() - 2).unwrap_or(usize::MAX);
    let mut size = escaped_len(text);
    for (n, failure) in failures.iter().enumerate() {
        let line = serde_json::to_string(failure).map_err(|e| Error::Internal(e.to_string()))?;
        // The line, and its newline as `\n`.
        let line_size = escaped_len(&line) + 2;
        if !text.is_empty() && size + line_size > max_bytes {
            return Ok(n);
        }
        text.push_str(&line);
        text.push('\n');
        size += line_size;
    }
    Ok(failures.len())
}

impl ApiContext {
    /// The failure list as NDJSON from `cursor` on, as much as one answer
    /// may carry ([`MAX_FAILURES_NDJSON_BYTES`]); `next_cursor` goes on.
    pub async fn failure_lines(&self, tenant: &TenantId, job_id: &JobId, cursor: Option<&str>) -> Result<FailureLines> {
        self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        let mut after = cursor.map(decode_cursor).transpose()?;
        let mut text = String::new();
        loop {
            let page = self.store.failure_page(job_id, after.as_deref(), MAX_FAILURES_PER_PAGE).await?;
            let appended = append_lines(&mut text, &page, MAX_FAILURES_NDJSON_BYTES)?;
            if let Some(last) = page[..appended].last() {
                after = Some(last.event_id.clone());
            }
            if appended < page.len() {
                return Ok(FailureLines { text, next_cursor: after.as_deref().map(encode_cursor) });
            }
            if page.len() < MAX_FAILURES_PER_PAGE as usize {
                return Ok(FailureLines { text, next_cursor: None });
            }
        }
    }
}

fn encode_cursor(event_id: &str) -> String {
    super::cursor::encode(event_id)
}

fn decode_cursor(cursor: &str) -> Result<String> {
    super::cursor::decode(cursor, crate::domain::record::is_valid_event_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(i: usize) -> replay_types::Failure {
        replay_types::Failure {
            event_id: format!("ev_{i:05}"),
            event_type: Some("tweet_create_events".into()),
            attempts: 5,
            last_status: Some(503),
            last_error: "HTTP 503".repeat(10),
            at: "2026-11-24T09:16:02.114Z".into(),
        }
    }

    #[test]
    fn an_ndjson_answer_stays_within_its_bytes_and_says_where_it_stopped() {
        let failures: Vec<_> = (0..100).map(failure).collect();
        let escaped = |s: &str| serde_json::to_string(s).unwrap().len() - 2;
        let line = escaped(&serde_json::to_string(&failures[0]).unwrap()) + 2;
        let mut text = String::new();
        let n = append_lines(&mut text, &failures, 10 * line + line / 2).unwrap();
        assert_eq!(n, 10, "as many whole lines as fit");
        assert!(escaped(&text) <= 10 * line + line / 2, "bounded as escaped into the envelope");
        assert_eq!(text.lines().count(), 10);
        // Quotes count twice over: the bound is on the escaped size.
        let quoted: Vec<_> =
            (0..100).map(|i| replay_types::Failure { event_type: Some("\"".repeat(200)), ..failure(i) }).collect();
        let mut text = String::new();
        append_lines(&mut text, &quoted, 20_000).unwrap();
        assert!(escaped(&text) <= 20_000, "{} escaped bytes", escaped(&text));
        let first: replay_types::Failure = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first.event_id, "ev_00000");
        // The first line of an answer always goes in, however small the bound.
        let mut text = String::new();
        assert_eq!(append_lines(&mut text, &failures, 1).unwrap(), 1);
        assert_eq!(append_lines(&mut text, &failures[1..], 1).unwrap(), 0);
    }
}
