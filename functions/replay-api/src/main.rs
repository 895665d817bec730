//! HTTP API: API Gateway (or a function URL) -> Lambda.

mod routes;

use lambda_http::{run, service_fn, Body, Error, Request, RequestExt, Response};
use replay_core::adapters::aws_config;
use replay_core::config::Settings;
use replay_core::services::api::ApiContext;
use routes::{handle, ApiRequest};

async fn handler(ctx: &ApiContext, req: Request) -> Result<Response<Body>, Error> {
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
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
        accept: header("accept"),
        body: req.body().as_ref(),
        request_id: request_id.as_deref(),
    };
    let response = handle(ctx, api_request).await;
    let (content_type, body) = response.encoded();
    let mut builder = Response::builder().status(response.status).header("content-type", content_type);
    if content_type != "application/json" {
        // lambda_http sends unknown content types base64-encoded; NDJSON is text.
        builder = builder.header("x-lambda-http-content-encoding", "text");
    }
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(Body::from(body))?)
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
