//! List cursors, one convention for the lists that page (docs/api.md, "List
//! webhooks"): opaque to clients, the base64url of the last key of a page.

use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The cursor after `last_key`.
pub fn encode(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key)
}

/// The key a cursor names, if it is one this list could have given.
pub fn decode(cursor: &str, is_key: impl Fn(&str) -> bool) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|key| is_key(key))
        .ok_or(Error::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_its_key_and_nothing_else_decodes() {
        let any = |_: &str| true;
        assert_eq!(decode(&encode("wh_1"), any).unwrap(), "wh_1");
        assert!(matches!(decode("not base64!", any), Err(Error::InvalidCursor)));
        assert!(matches!(decode(&encode("wh_1"), |k| k.starts_with("ev_")), Err(Error::InvalidCursor)));
    }
}
