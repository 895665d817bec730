//! The command line itself: the committed completion scripts are the ones
//! the binary generates, exit codes, and `--json` on errors' absence.

use std::process::Command;

fn replayctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_replayctl"))
}

#[test]
fn committed_completions_are_the_generated_ones() {
    for shell in ["bash", "zsh", "fish"] {
        let out = replayctl().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let path = format!("{}/../../completions/replayctl.{shell}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(committed == out.stdout, "{path} is stale: run `make completions` and commit it");
    }
}

#[test]
fn usage_errors_exit_2_and_unreachable_apis_exit_4() {
    let out = replayctl().args(["replay", "frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    let out = replayctl()
        .args(["replay", "status", "job_x", "--api-url", "http://127.0.0.1:9", "--api-key", "rk_x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("request failed"));
}
