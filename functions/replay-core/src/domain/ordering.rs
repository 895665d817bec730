//! Ordered delivery per key (docs/guarantees.md, "Ordering per key"): a
//! job's `ordering_key` is a JSON Pointer (RFC 6901) into each event's
//! payload; events with the same value there are delivered in log order,
//! one at a time, while other keys go on concurrently.

use xxhash_rust::xxh3::xxh3_64;

/// The longest pointer a request may give.
pub const MAX_POINTER_CHARS: usize = 200;

/// Checks a pointer as a request gives it: why it is refused, if it is.
pub fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.starts_with('/') {
        return Err("`ordering_key` must be a JSON Pointer starting with `/`, for example `/account_id`".into());
    }
    if pointer.chars().count() > MAX_POINTER_CHARS {
        return Err(format!("`ordering_key` is longer than {MAX_POINTER_CHARS} characters"));
    }
    // RFC 6901: `~` only as `~0` (a `~`) or `~1` (a `/`).
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("`ordering_key`: a `~` must be followed by 0 or 1 (RFC 6901)".into());
        }
    }
    Ok(())
}

/// The key of an event: a hash of the JSON text at `pointer` in its payload
/// (a string's own text, so `"42"` and `42` are different keys). Events
/// whose payload has nothing there, or is not JSON, share one key: they
/// are ordered among themselves, never left unordered.
pub fn key_of(pointer: &str, payload: &[u8]) -> u64 {
    let value = serde_json::from_slice::<serde_json::Value>(payload).ok();
    match value.as_ref().and_then(|v| v.pointer(pointer)) {
        Some(serde_json::Value::String(s)) => xxh3_64(format!("s{s}").as_bytes()),
        Some(other) => xxh3_64(format!("j{other}").as_bytes()),
        None => xxh3_64(b"-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_checked_as_rfc_6901_has_them() {
        assert!(check_pointer("/account_id").is_ok());
        assert!(check_pointer("/user/id").is_ok());
        assert!(check_pointer("/a~1b/c~0d").is_ok());
        for bad in ["account_id", "", "/a~2", "/a~"] {
            assert!(check_pointer(bad).is_err(), "{bad}");
        }
        assert!(check_pointer(&format!("/{}", "x".repeat(MAX_POINTER_CHARS))).is_err());
    }

    #[test]
    fn an_events_key_is_the_value_at_the_pointer() {
        let a1 = key_of("/user/id", br#"{"user":{"id":"a"},"n":1}"#);
        let a2 = key_of("/user/id", br#"{"n":2,"user":{"id":"a"}}"#);
        let b = key_of("/user/id", br#"{"user":{"id":"b"}}"#);
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        // A string and a number of the same digits are different values.
        assert_ne!(key_of("/id", br#"{"id":"42"}"#), key_of("/id", br#"{"id":42}"#));
        // Missing, or not JSON at all: one key of their own.
        let missing = key_of("/user/id", br#"{"user":{}}"#);
        assert_eq!(missing, key_of("/user/id", b"not json"));
        assert_ne!(missing, a1);
        assert_eq!(key_of("/a~1b", br#"{"a/b":1}"#), key_of("/x", br#"{"x":1}"#));
    }
}
