//! docs/openapi.json is the generated document, committed: this fails when
//! a type or an operation changed and the file was not regenerated.

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = replay_types::openapi::document_json();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the document generated from the types: run `make openapi` and commit it"
    );
}

#[test]
fn every_error_code_is_in_the_document() {
    let doc: serde_json::Value = serde_json::from_str(&replay_types::openapi::document_json()).unwrap();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().cloned().unwrap_or_default();
    for code in ["invalid_request", "range_not_settled", "range_expired", "job_already_running", "unavailable"] {
        assert!(codes.iter().any(|c| c == code), "{code} missing from {codes:?}");
    }
    assert!(!codes.iter().any(|c| c == "unknown"), "the client-only variant is not documented: {codes:?}");
    let states = doc["components"]["schemas"]["JobState"]["enum"].as_array().cloned().unwrap_or_default();
    assert_eq!(states.len(), replay_types::JobState::ALL.len(), "{states:?}");
    assert!(states.iter().any(|s| s == "PAUSED"), "{states:?}");
}
