//! `http_get` against a server on 127.0.0.1: the allowlist, the size limit, redirects, errors
//! and the timeout.

use axum::Router;
use axum::body::Body;
use axum::response::Redirect;
use axum::routing::get;
use baton_core::context::ToolContext;
use baton_core::tool::Tool;
use baton_topology::tools::{HttpGet, HttpGetArgs, HttpGetConfig};
use std::net::SocketAddr;
use std::time::Duration;

/// Serves the test routes on an ephemeral port of 127.0.0.1; the server ends with the test's
/// runtime.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port();
    let app =
        Router::new()
            .route("/hello", get(|| async { "hello from 127.0.0.1" }))
            .route("/large", get(|| async { "x".repeat(2000) }))
            .route(
                "/chunked",
                get(|| async {
                    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>("y".repeat(100)));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route(
                "/missing",
                get(|| async { (axum::http::StatusCode::NOT_FOUND, "no such page") }),
            )
            .route("/to-hello", get(|| async { Redirect::temporary("/hello") }))
            .route(
                "/to-localhost",
                get(move || async move {
                    Redirect::temporary(&format!("http://localhost:{port}/hello"))
                }),
            )
            .route("/never", get(std::future::pending::<String>));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn tool(max_bytes: usize) -> HttpGet {
    HttpGet::new(
        HttpGetConfig::new(["127.0.0.1"])
            .with_max_bytes(max_bytes)
            .with_timeout(Duration::from_millis(500)),
    )
    .unwrap()
}

async fn get_url(tool: &HttpGet, url: String) -> Result<String, String> {
    tool.call(HttpGetArgs { url }, ToolContext::standalone())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn allowed_hosts_are_fetched_within_the_size_limit() {
    let addr = serve().await;
    let tool = tool(1000);
    assert_eq!(
        get_url(&tool, format!("http://{addr}/hello"))
            .await
            .unwrap(),
        "hello from 127.0.0.1"
    );
    assert_eq!(
        get_url(&tool, format!("http://{addr}/to-hello"))
            .await
            .unwrap(),
        "hello from 127.0.0.1"
    );
    let big = tool.clone();
    let exact = HttpGet::new(HttpGetConfig::new(["127.0.0.1"]).with_max_bytes(2000)).unwrap();
    assert_eq!(
        get_url(&exact, format!("http://{addr}/large"))
            .await
            .unwrap()
            .len(),
        2000
    );
    for path in ["large", "chunked"] {
        assert_eq!(
            get_url(&big, format!("http://{addr}/{path}"))
                .await
                .unwrap_err(),
            "the response is larger than the limit of 1000 bytes",
            "{path}"
        );
    }
}

#[tokio::test]
async fn other_hosts_and_schemes_are_refused_before_any_request() {
    let addr = serve().await;
    let tool = tool(1000);
    assert_eq!(
        get_url(&tool, format!("http://localhost:{}/hello", addr.port()))
            .await
            .unwrap_err(),
        "localhost is not an allowed host (allowed: 127.0.0.1)"
    );
    assert_eq!(
        get_url(&tool, "file:///etc/passwd".into())
            .await
            .unwrap_err(),
        "only http and https URLs can be fetched, not file"
    );
    assert!(
        get_url(&tool, "not a url".into())
            .await
            .unwrap_err()
            .starts_with("invalid URL \"not a url\"")
    );
    let redirected = get_url(&tool, format!("http://{addr}/to-localhost"))
        .await
        .unwrap_err();
    assert!(
        redirected.contains("redirect to localhost, which is not an allowed host"),
        "{redirected}"
    );
}

#[tokio::test]
async fn error_statuses_and_timeouts_are_tool_errors() {
    let addr = serve().await;
    let tool = tool(1000);
    assert_eq!(
        get_url(&tool, format!("http://{addr}/missing"))
            .await
            .unwrap_err(),
        "HTTP 404 Not Found: no such page"
    );
    let slow = get_url(&tool, format!("http://{addr}/never"))
        .await
        .unwrap_err();
    assert!(slow.starts_with("the request timed out"), "{slow}");
}

#[test]
fn the_arguments_schema_is_derived() {
    let schema = baton_core::tool::schema_for::<HttpGetArgs>();
    assert_eq!(schema["required"], serde_json::json!(["url"]));
    assert_eq!(schema["properties"]["url"]["type"], "string");
}
