//! HTTP API: API Gateway (or a function URL) -> Lambda.

mod routes;

use lambda_http::{run, service_fn, Body, Error, Request, RequestExt, Response};
use replay_core::adapters::aws_config;
use replay_core::config::Settings;
use replay_core::services::api::ApiContext;
use routes::{handle, ApiRequest};

async fn handler(ctx: &ApiContext, req: Request) -> Result<Response<Body>, Error> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let query = req
        .query_string_parameters_ref()
        .map(|q| q.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    let api_request = ApiRequest {
        method: req.method().as_str(),
        path: req.uri().path(),
        query,
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body: req.body().as_ref(),
    };
    let response = handle(ctx, api_request).await;
    let mut builder = Response::builder().status(response.status).header("content-type", "application/json");
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(Body::from(response.body.to_string()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    replay_core::telemetry::init();
    let settings = Settings::from_env()?;
    replay_core::services::lifecycle::arm_crash_points(settings.failpoints.as_deref());
    let aws = aws_config().await;
    let ctx = ApiContext::connect(settings, &aws).await?;
    let ctx = &ctx;
    run(service_fn(move |req| handler(ctx, req))).await
}
