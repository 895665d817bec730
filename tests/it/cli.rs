//! The command-line tools as users run them: SIGTERM stops a long-running
//! command and every process it started, as Ctrl-C does.

use replay_integration_tests::replay_lab::stack;
use replay_integration_tests::*;
use std::time::Duration;

/// Child processes of `pid`, whichever of its threads started them.
fn children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    tasks
        .flat_map(|task| {
            std::fs::read_to_string(task.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; its parent (init, once ours is gone) reaps it.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test]
async fn sigterm_stops_a_deploy_and_the_processes_it_started() -> anyhow::Result<()> {
    let env = stack::LocalEnv::from_env()?;
    let name = unique("it-sigterm-");
    let mut lab = tokio::process::Command::new(repo_root().join("target/debug/replay-lab"))
        .args(["deploy", "--name", &name])
        .current_dir(repo_root())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = lab.id().unwrap_or_default();
    // Until it has started stack.py (packaging and the change set take seconds).
    let mut started = Vec::new();
    eventually(Duration::from_secs(60), "a child process", async || {
        started = children(pid);
        !started.is_empty() || lab.try_wait().ok().flatten().is_some()
    })
    .await?;
    anyhow::ensure!(lab.try_wait()?.is_none(), "replay-lab deploy ended before starting stack.py");
    stack::signal(pid, "TERM").await?;
    let status = tokio::time::timeout(Duration::from_secs(10), lab.wait()).await??;
    assert_eq!(status.code(), Some(128 + 15), "exits as stopped by SIGTERM");
    eventually(Duration::from_secs(10), "the children gone", async || !started.iter().any(|&c| alive(c))).await?;
    let _ = stack::delete(&env, &name, false).await;
    Ok(())
}
