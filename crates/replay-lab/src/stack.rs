//! The local stack: the services' coordinates (exported by
//! `infra/local/env.sh`) and SAM stacks of `template.yaml` deployed to
//! LocalStack (`infra/local/stack.py`), whose functions LocalStack's host
//! executor runs as processes of this machine.

use anyhow::{bail, Context, Result};
use replay_core::config::KafkaConfig;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LocalEnv {
    /// The server's admin URL (`.../replay`); stacks get databases of their own.
    pub database_url: String,
    pub kafka: KafkaConfig,
    pub table: String,
    pub pepper: String,
    pub repo_root: PathBuf,
    pub state_dir: PathBuf,
    /// LocalStack's gateway.
    pub endpoint: String,
}

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: source infra/local/env.sh first"))
}

impl LocalEnv {
    pub fn from_env() -> Result<Self> {
        let repo_root = std::env::var("REPLAY_REPO_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::current_dir().unwrap_or_default());
        Ok(Self {
            database_url: var("DATABASE_URL")?,
            kafka: KafkaConfig::plain(
                var("KAFKA_BROKERS")?,
                std::env::var("DELIVERY_LOG_TOPIC").unwrap_or_else(|_| "delivery_log".into()),
            ),
            table: std::env::var("CHECKPOINT_TABLE").unwrap_or_else(|_| "replay_checkpoints".into()),
            pepper: var("API_KEY_PEPPER")?,
            state_dir: std::env::var("REPLAY_LOCAL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo_root.join(".local")),
            endpoint: std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
            repo_root,
        })
    }

    pub async fn aws(&self) -> aws_config::SdkConfig {
        replay_core::adapters::aws_config().await
    }

    /// The Python that runs LocalStack (it has boto3 and PyYAML for stack.py).
    fn python(&self) -> PathBuf {
        std::env::var("LOCALSTACK_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| self.state_dir.join("venvs/localstack"))
            .join("bin/python")
    }

    fn stack_py(&self) -> PathBuf {
        self.repo_root.join("infra/local/stack.py")
    }
}

/// Settings that have a template parameter of their own; every other setting
/// of docs/configuration.md goes through `SettingsOverrides`.
pub const PARAMETER_OF_SETTING: &[(&str, &str)] = &[
    ("REPLAY_RETENTION_HOURS", "RetentionHours"),
    ("SLICE_SECONDS", "SliceSeconds"),
    ("MAX_PARALLEL_SLICES", "MaxParallelSlices"),
    ("DELIVERY_CONCURRENCY", "DeliveryConcurrency"),
    ("DELIVERY_RATE_PER_SECOND", "DeliveryRatePerSecond"),
    ("DELIVERY_MAX_ATTEMPTS", "DeliveryMaxAttempts"),
    ("DELIVERY_TIMEOUT_MS", "DeliveryTimeoutMs"),
    ("WEBHOOK_ALLOW_LIST", "WebhookAllowList"),
    ("WEBHOOK_DNS_SERVER", "WebhookDnsServer"),
];

/// What to deploy: a stack name, its database, template parameters and
/// settings (by their environment names).
#[derive(Debug, Clone, Default)]
pub struct StackSpec {
    pub name: String,
    pub bin_dir: PathBuf,
    pub database_url: String,
    pub parameters: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
}

impl StackSpec {
    pub fn parameter(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.parameters.retain(|(k, _)| k != name);
        self.parameters.push((name.to_owned(), value.to_string()));
        self
    }

    /// A setting by its environment name: its own parameter, or SettingsOverrides.
    pub fn setting(&mut self, name: &str, value: impl ToString) -> &mut Self {
        match PARAMETER_OF_SETTING.iter().find(|(setting, _)| *setting == name) {
            Some((_, parameter)) => {
                self.parameter(parameter, value);
            }
            None => {
                self.settings.retain(|(k, _)| k != name);
                self.settings.push((name.to_owned(), value.to_string()));
            }
        }
        self
    }

    fn all_parameters(&self) -> Vec<(String, String)> {
        let mut all = self.parameters.clone();
        if !self.settings.is_empty() {
            let overrides: Vec<String> = self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            all.retain(|(k, _)| k != "SettingsOverrides");
            all.push(("SettingsOverrides".into(), overrides.join(" ")));
        }
        all
    }
}

/// The outputs of a deployed stack (`template.yaml`'s Outputs, plus the URL
/// LocalStack serves the REST API at).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deployed {
    pub stack_name: String,
    #[serde(rename = "LocalApiUrl")]
    pub api_url: String,
    pub slice_queue_url: String,
    pub slice_dead_letter_queue_url: String,
    pub slice_dead_letter_queue_arn: String,
    pub webhook_secrets_key_arn: String,
    pub api_function_name: String,
    pub worker_function_name: String,
    pub sweeper_function_name: String,
    pub api_log_group_name: String,
    pub worker_log_group_name: String,
    pub sweeper_log_group_name: String,
}

async fn run_stack_py(env: &LocalEnv, args: &[String]) -> Result<String> {
    let out = tokio::process::Command::new(env.python())
        .kill_on_drop(true)
        .arg(env.stack_py())
        .args(args)
        .current_dir(&env.repo_root)
        .output()
        .await
        .context("running infra/local/stack.py (is LocalStack installed? run infra/local/up.sh)")?;
    if !out.status.success() {
        bail!(
            "stack.py {} failed: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Deploys (creates, or updates by change set) a stack and returns its outputs.
pub async fn deploy(env: &LocalEnv, spec: &StackSpec) -> Result<Deployed> {
    let mut args: Vec<String> = vec![
        "deploy".into(),
        "--name".into(),
        spec.name.clone(),
        "--bin-dir".into(),
        spec.bin_dir.display().to_string(),
        "--database-url".into(),
        spec.database_url.clone(),
        "--pepper".into(),
        env.pepper.clone(),
    ];
    for (k, v) in spec.all_parameters() {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
    }
    let stdout = run_stack_py(env, &args).await?;
    serde_json::from_str(&stdout).with_context(|| format!("stack.py deploy printed no outputs: {stdout}"))
}

pub async fn delete(env: &LocalEnv, name: &str, wait: bool) -> Result<()> {
    let mut args = vec!["delete".to_owned(), "--name".into(), name.to_owned()];
    if !wait {
        args.push("--no-wait".into());
    }
    run_stack_py(env, &args).await.map(|_| ())
}

/// GET of LocalStack's Lambda API (`/2015-03-31/...`), as `aws lambda` calls it.
pub async fn lambda_get(env: &LocalEnv, path: &str) -> Result<Value> {
    let url = format!("{}/2015-03-31{path}", env.endpoint);
    Ok(http()
        .get(url)
        .header("authorization", local_authorization("lambda"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// One execution environment of a function and its bootstrap process.
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionProcess {
    pub environment_id: String,
    pub pid: Option<u32>,
    pub invocations: u64,
    #[serde(default)]
    pub last_report: Value,
}

#[derive(Deserialize)]
struct Listing {
    environments: Vec<FunctionProcess>,
}

/// An Authorization header LocalStack accepts (it checks no signature, but
/// reads the service, region and account from the credential scope).
pub fn local_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(900)).build().unwrap_or_default()
}

/// The processes LocalStack's host executor runs for a function.
pub async fn processes(env: &LocalEnv, function: &str) -> Result<Vec<FunctionProcess>> {
    let url = format!("{}/_host_executor/processes?function={function}", env.endpoint);
    let listing: Listing = http().get(url).send().await?.error_for_status()?.json().await?;
    Ok(listing.environments)
}

/// Live PIDs of a function's bootstraps.
pub async fn pids(env: &LocalEnv, function: &str) -> Result<Vec<u32>> {
    Ok(processes(env, function).await?.into_iter().filter_map(|p| p.pid).collect())
}

/// Sends a signal (`KILL`, `STOP`, `CONT`) to a process.
pub async fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = tokio::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().await?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

/// Lambda's Invoke (RequestResponse) through LocalStack; the function's
/// answer, or an error carrying its FunctionError payload.
pub async fn invoke(env: &LocalEnv, function: &str, payload: &Value) -> Result<Value> {
    let url = format!("{}/2015-03-31/functions/{function}/invocations", env.endpoint);
    let resp = http().post(url).header("authorization", local_authorization("lambda")).json(payload).send().await?;
    let function_error = resp.headers().get("x-amz-function-error").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if let Some(kind) = function_error {
        bail!("{function} failed ({kind}): {body}");
    }
    anyhow::ensure!(status.is_success(), "invoking {function}: HTTP {status}: {body}");
    Ok(body)
}

/// A folder of built function binaries (`target/debug` by default).
pub fn bin_dir(repo_root: &Path) -> PathBuf {
    std::env::var("REPLAY_BIN_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root.join("target/debug"))
}

/// Messages of a log group (all streams) that contain `filter`, oldest first,
/// through CloudWatch Logs' FilterLogEvents on LocalStack.
pub async fn log_lines(env: &LocalEnv, group: &str, filter: &str) -> Result<Vec<String>> {
    Ok(log_events(env, group, filter).await?.into_iter().map(|(_, message)| message).collect())
}

/// Like [`log_lines`], each message with its timestamp (Unix ms), oldest
/// first (LocalStack answers stream by stream).
pub async fn log_events(env: &LocalEnv, group: &str, filter: &str) -> Result<Vec<(i64, String)>> {
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = serde_json::json!({"logGroupName": group, "filterPattern": format!("\"{filter}\"")});
        if let Some(t) = &token {
            body["nextToken"] = Value::String(t.clone());
        }
        let resp: Value = http()
            .post(&env.endpoint)
            .header("x-amz-target", "Logs_20140328.FilterLogEvents")
            .header("content-type", "application/x-amz-json-1.1")
            .header("authorization", local_authorization("logs"))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for event in resp["events"].as_array().into_iter().flatten() {
            // LocalStack does not apply quoted filter patterns: filter here too.
            if let Some(m) = event["message"].as_str().filter(|m| m.contains(filter)) {
                lines.push((event["timestamp"].as_i64().unwrap_or_default(), m.to_owned()));
            }
        }
        match resp["nextToken"].as_str() {
            Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_owned()),
            _ => {
                lines.sort_by_key(|(at, _)| *at);
                return Ok(lines);
            }
        }
    }
}
