//! Which events of a window a job replays (docs/api.md, "Choosing the
//! events"): event types, event ids, failed-only, dry run. Validated once at
//! the API; the worker applies it to each event it reads.

use super::record::is_valid_event_id;
use crate::error::{Error, Result};
use replay_types::{CreateReplayRequest, JobId, Selection};
use std::collections::HashSet;

pub const MAX_EVENT_TYPES: usize = 50;
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
pub const MAX_EVENT_IDS: usize = 1_000;

/// A validated selection, as the worker applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub event_types: Option<HashSet<String>>,
    pub event_ids: Option<HashSet<String>>,
    pub only_failed: bool,
    pub dry_run: bool,
}

impl EventFilter {
    /// Whether an event's type and id are selected (before dedup and the
    /// failed-only rule).
    pub fn selects(&self, event_type: &str, event_id: &str) -> bool {
        self.event_types.as_ref().is_none_or(|t| t.contains(event_type))
            && self.event_ids.as_ref().is_none_or(|ids| ids.contains(event_id))
    }

    pub fn by_id(&self) -> bool {
        self.event_ids.is_some()
    }

    pub fn of(selection: &Selection) -> Self {
        Self {
            event_types: selection.event_types.as_ref().map(|t| t.iter().cloned().collect()),
            event_ids: selection.event_ids.as_ref().map(|t| t.iter().cloned().collect()),
            only_failed: selection.only.as_deref() == Some("failed"),
            dry_run: selection.dry_run,
        }
    }
}

/// The selection of a replay request, checked: `invalid_selection` names
/// the field that is out of bounds.
pub fn selection_of(req: &CreateReplayRequest) -> Result<Selection> {
    let bad = |m: String| Error::InvalidSelection(m);
    if let Some(types) = &req.event_types {
        if types.is_empty() || types.len() > MAX_EVENT_TYPES {
            return Err(bad(format!("`event_types` must list 1-{MAX_EVENT_TYPES} event types, got {}", types.len())));
        }
        if let Some(t) = types.iter().find(|t| t.is_empty() || t.chars().count() > MAX_EVENT_TYPE_CHARS) {
            return Err(bad(format!(
                "`event_types` entries must be 1-{MAX_EVENT_TYPE_CHARS} characters, got {} characters",
                t.chars().count()
            )));
        }
    }
    if let Some(ids) = &req.event_ids {
        if ids.is_empty() || ids.len() > MAX_EVENT_IDS {
            return Err(bad(format!("`event_ids` must list 1-{MAX_EVENT_IDS} event ids, got {}", ids.len())));
        }
        if ids.iter().any(|id| !is_valid_event_id(id)) {
            return Err(bad("`event_ids` entries must be event ids: 1-255 visible ASCII characters".into()));
        }
    }
    if let Some(only) = &req.only {
        if only != "failed" {
            return Err(bad(format!("`only` must be \"failed\", got {only:?}")));
        }
    }
    let dedup = |v: &Option<Vec<String>>| {
        v.as_ref().map(|list| {
            let mut seen = HashSet::new();
            list.iter().filter(|x| seen.insert(x.as_str())).cloned().collect::<Vec<_>>()
        })
    };
    Ok(Selection {
        event_types: dedup(&req.event_types),
        event_ids: dedup(&req.event_ids),
        only: req.only.clone(),
        dry_run: req.dry_run,
        failures_of: None,
    })
}

/// A retry's selection: exactly `event_ids`, the failures of `job`.
/// Failed ids a retry's row still carries itself, for workers of the release
/// before (they read `event_ids`, not the failure list): 50,000 ids of up to
/// 255 bytes stay far under the column's 16 MB.
pub const RETRY_IDS_INLINE: usize = 50_000;

/// A retry's selection: the job whose failure list a slice reads when it
/// starts (any number of ids), and for workers of the release before, the
/// ids themselves when there are at most [`RETRY_IDS_INLINE`]. Beyond, an
/// empty list: such a worker then delivers nothing rather than the window.
pub fn retry_selection(job: &JobId, ids: Option<Vec<String>>) -> Selection {
    Selection { failures_of: Some(job.clone()), event_ids: Some(ids.unwrap_or_default()), ..Selection::default() }
}

/// The selection as the API shows it: a retry's ids are not repeated.
pub fn shown(mut selection: Selection) -> Selection {
    if selection.failures_of.is_some() {
        selection.event_ids = None;
    }
    selection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: impl FnOnce(&mut CreateReplayRequest)) -> CreateReplayRequest {
        let mut r = CreateReplayRequest::window("a", "b");
        f(&mut r);
        r
    }

    #[test]
    fn bounds_are_checked_per_field() {
        let cases: Vec<(CreateReplayRequest, &str)> = vec![
            (req(|r| r.event_types = Some(vec![])), "event_types"),
            (req(|r| r.event_types = Some((0..51).map(|i| format!("t{i}")).collect())), "event_types"),
            (req(|r| r.event_types = Some(vec!["x".repeat(101)])), "event_types"),
            (req(|r| r.event_ids = Some(vec![])), "event_ids"),
            (req(|r| r.event_ids = Some((0..1001).map(|i| format!("e{i}")).collect())), "event_ids"),
            (req(|r| r.event_ids = Some(vec!["bad\nid".into()])), "event_ids"),
            (req(|r| r.only = Some("succeeded".into())), "only"),
        ];
        for (r, field) in cases {
            match selection_of(&r) {
                Err(Error::InvalidSelection(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        let ok = selection_of(&req(|r| {
            r.event_types = Some(vec!["a".into(), "a".into(), "b".into()]);
            r.only = Some("failed".into());
            r.dry_run = true;
        }))
        .unwrap();
        assert_eq!(ok.event_types, Some(vec!["a".into(), "b".into()]), "repeats removed, order kept");
        let f = EventFilter::of(&ok);
        assert!(f.only_failed && f.dry_run && f.selects("a", "any") && !f.selects("c", "any"));
        assert!(selection_of(&req(|_| {})).unwrap().is_everything());
    }
}
