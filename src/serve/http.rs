//! Request handling of `survey serve`: files of `site/` under the base path,
//! the live-reload event stream, and the overlay after a failed build.
//!
//! Files are served by tower-http's `ServeDir`, which maps a URL path to a
//! file without leaving the directory, returns 404 for missing files,
//! and sets `Content-Type` from the extension. This module adds what is
//! specific to previewing: the base path, an explicit 403 for traversal
//! attempts, no caching, and the reload script in every HTML response.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::wrappers::ReceiverStream;
use tower_http::services::{ServeDir, ServeFile};

use super::Shared;
use crate::markdown::escape_html;

/// Path of the event stream, under the base path.
pub(crate) const EVENTS_PATH: &str = "__survey/events";

/// Largest HTML page the server rewrites; larger ones are sent unchanged.
const MAX_HTML_BYTES: usize = 64 * 1024 * 1024;

const LIVERELOAD_JS: &str = include_str!("livereload.js");

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, mut request: Request) -> Response {
    let path = request.uri().path().to_string();
    if is_traversal(&path) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let (base, failure) = {
        let state = shared.state.read().expect("state lock");
        (state.base.clone(), state.failure.clone())
    };
    let generation = shared.generation.load(Ordering::SeqCst);
    if path == format!("{base}{EVENTS_PATH}") {
        return events(&shared);
    }
    let rest = match path.strip_prefix(&base) {
        Some(rest) => rest.to_string(),
        // The server root and the base path without its slash lead to the site.
        None if path == "/" || path == base.trim_end_matches('/') => return Redirect::temporary(&base).into_response(),
        None => String::from("404.html"),
    };
    let outside_base = !path.starts_with(&base);

    if let Some(overlay) = &failure
        && is_page(&rest)
    {
        let html = inject_reload(overlay, &base, generation);
        return html_response(StatusCode::INTERNAL_SERVER_ERROR, html);
    }

    let query = request.uri().query().map(|query| format!("?{query}")).unwrap_or_default();
    match format!("/{rest}{query}").parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    // Every build writes new files. Send the current bytes rather than a
    // cached copy whose modification time may match to the second.
    for name in [header::IF_MODIFIED_SINCE, header::IF_NONE_MATCH, header::IF_UNMODIFIED_SINCE, header::IF_RANGE] {
        request.headers_mut().remove(name);
    }
    let mut files = ServeDir::new(&shared.site_dir)
        .redirect_path_prefix(base.trim_end_matches('/'))
        .not_found_service(ServeFile::new(shared.site_dir.join("404.html")));
    let mut response = match files.try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if outside_base {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    finish(response, &base, generation).await
}

/// Returns whether a request path tries to leave the site directory or hides a
/// separator: a `..` segment, written plainly or percent-encoded, an
/// encoded slash, a backslash, or a NUL byte.
pub(crate) fn is_traversal(path: &str) -> bool {
    if path.contains('\\') {
        return true;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return true;
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded.contains('\\') || decoded.split('/').any(|segment| segment == "..")
}

/// Returns whether a path under the base path names a page rather than an asset:
/// a directory URL, an `.html` file, or a name without an extension.
fn is_page(rest: &str) -> bool {
    let name = rest.rsplit('/').next().unwrap_or("");
    name.is_empty() || name.ends_with(".html") || !name.contains('.')
}

/// Adds `Cache-Control: no-store` and, to HTML, the reload script.
async fn finish(response: Response, base: &str, generation: u64) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
    // The generator writes UTF-8 only, so declare it for every text format.
    if is_text(&content_type)
        && !content_type.contains("charset")
        && let Ok(value) = HeaderValue::from_str(&format!("{content_type}; charset=utf-8"))
    {
        parts.headers.insert(header::CONTENT_TYPE, value);
    }
    let is_html = content_type.starts_with("text/html");
    if !is_html || parts.status == StatusCode::PARTIAL_CONTENT {
        return Response::from_parts(parts, body);
    }
    let bytes = match axum::body::to_bytes(body, MAX_HTML_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let html = inject_reload(&String::from_utf8_lossy(&bytes), base, generation);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(html))
}

fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || ["application/json", "application/javascript", "application/xml", "image/svg+xml"].contains(&content_type)
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Inserts the reload script before `</body>`, or at the end of a page
/// without one.
pub(crate) fn inject_reload(html: &str, base: &str, generation: u64) -> String {
    let script = format!(
        "<script data-events=\"{}\" data-build=\"{generation}\">\n{LIVERELOAD_JS}</script>\n",
        escape_html(&format!("{base}{EVENTS_PATH}"))
    );
    let mut out = String::with_capacity(html.len() + script.len());
    match html.rfind("</body>") {
        Some(at) => {
            out.push_str(&html[..at]);
            out.push_str(&script);
            out.push_str(&html[at..]);
        }
        None => {
            out.push_str(html);
            out.push_str(&script);
        }
    }
    out
}

/// Opens the event stream of one tab: a `build` event with the current build
/// number, then a `reload` event after each build, until the server stops.
fn events(shared: &Shared) -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut builds = shared.reload.subscribe();
    let mut stopping = shared.stopping.subscribe();
    let current = shared.generation.load(Ordering::SeqCst);
    tokio::spawn(async move {
        let first = Event::default().event("build").data(current.to_string());
        if sender.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            let generation = tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => break,
                _ = sender.closed() => break,
                received = builds.recv() => match received {
                    Ok(generation) => generation,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            let event = Event::default().event("reload").data(generation.to_string());
            if sender.send(Ok(event)).await.is_err() {
                break;
            }
        }
    });
    let stream: ReceiverStream<Result<Event, Infallible>> = ReceiverStream::new(receiver);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_in_every_spelling_is_caught() {
        for path in [
            "/../etc/passwd",
            "/papers/../../x",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/a%2f..%2fb",
            "/a\\..\\b",
            "/a%5c..",
            "/a%00.html",
        ] {
            assert!(is_traversal(path), "{path}");
        }
        for path in ["/", "/papers/03-skyformer/", "/static/style.css", "/a..b/", "/%E7%9B%AE%E6%AC%A1/"] {
            assert!(!is_traversal(path), "{path}");
        }
    }

    #[test]
    fn pages_and_assets_are_told_apart() {
        assert!(is_page(""));
        assert!(is_page("papers/01-a/"));
        assert!(is_page("404.html"));
        assert!(is_page("papers/01-a"));
        assert!(!is_page("static/style.css"));
        assert!(!is_page("static/katex/fonts/KaTeX_Main-Regular.woff2"));
    }

    #[test]
    fn script_goes_before_the_body_end() {
        let html = inject_reload("<html><body><p>x</p></body></html>", "/repo/", 3);
        let script = html.find("<script data-events=\"/repo/__survey/events\" data-build=\"3\">").unwrap();
        assert!(script > html.find("<p>x</p>").unwrap());
        assert!(script < html.find("</body>").unwrap());
        assert!(inject_reload("plain", "/", 0).starts_with("plain<script"));
    }
}
