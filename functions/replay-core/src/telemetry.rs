use tracing_subscriber::{fmt, EnvFilter};

/// Installs the tracing subscriber once per process. JSON lines when running in
/// Lambda with `AWS_LAMBDA_LOG_FORMAT=JSON` (or `LOG_FORMAT=json`), text otherwise.
pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .or_else(|_| std::env::var("LOG_FORMAT"))
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    let builder = fmt().with_env_filter(filter).with_target(false);
    let result = if json { builder.json().flatten_event(true).without_time().try_init() } else { builder.try_init() };
    // A second init in the same process (tests) is harmless.
    drop(result);
}
