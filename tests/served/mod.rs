//! The real survey, built once per test binary and served the way GitHub
//! Pages serves a project site: under `/REPO/` on 127.0.0.1, with
//! `404.html` answering every missing path.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use survey::site::{BuildOptions, build};

/// Sub-path the test site is served under, as a project page would be.
pub const REPO_PATH: &str = "/REPO/";

pub struct ServedSite {
    /// Output directory of the build.
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT/REPO/`; also the build's base URL.
    pub base_url: String,
}

/// Builds the survey of this repository with an absolute base URL on a
/// free local port and serves it from a background thread. The site is
/// built and the server started once per test binary.
pub fn served_site() -> &'static ServedSite {
    static SITE: OnceLock<ServedSite> = OnceLock::new();
    SITE.get_or_init(|| build_and_serve(Path::new(env!("CARGO_MANIFEST_DIR")), "survey"))
}

/// Builds the site at `root` with an absolute base URL on a free local port
/// into a directory named after `name` and this test binary, and serves it
/// from a background thread.
pub fn build_and_serve(root: &Path, name: &str) -> ServedSite {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a local port");
    let port = server.server_addr().to_ip().expect("an IP listener").port();
    let base_url = format!("http://127.0.0.1:{port}{REPO_PATH}");

    // One directory per site and test binary, replaced by each run.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("served-{name}-{}", env!("CARGO_CRATE_NAME")));
    let _ = std::fs::remove_dir_all(&dir);
    let options = BuildOptions { output_dir: Some(dir.clone()), base_url: Some(base_url.clone()), ..BuildOptions::new(root) };
    if let Err(diagnostics) = build(&options) {
        let messages: Vec<String> = diagnostics.iter().map(|d| format!("{} {:?}", d.location(), d.message)).collect();
        panic!("the site must build: {messages:#?}");
    }

    let served = dir.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let response = respond(&served, request.method(), request.url());
            // A client that hung up early is not a failure of the site.
            let _ = request.respond(response);
        }
    });
    ServedSite { dir, base_url }
}

type Response = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn respond(root: &Path, method: &tiny_http::Method, url: &str) -> Response {
    if !matches!(method, tiny_http::Method::Get | tiny_http::Method::Head) {
        return text(405, "method not allowed");
    }
    let raw_path = url.split(['?', '#']).next().unwrap_or("/");
    let path = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy().into_owned();
    if path == REPO_PATH.trim_end_matches('/') {
        return redirect(REPO_PATH);
    }
    let Some(rel) = path.strip_prefix(REPO_PATH) else {
        return text(404, "outside the site");
    };
    let rel = Path::new(rel);
    if rel.components().any(|component| !matches!(component, Component::Normal(_))) {
        return text(404, "not a file of the site");
    }
    let mut file = root.join(rel);
    if file.is_dir() {
        if !path.ends_with('/') {
            return redirect(&format!("{raw_path}/"));
        }
        file = file.join("index.html");
    }
    match std::fs::read(&file) {
        Ok(bytes) => with_type(tiny_http::Response::from_data(bytes), &file),
        Err(_) => {
            let page = std::fs::read(root.join("404.html")).unwrap_or_else(|_| b"404 page missing".to_vec());
            with_type(tiny_http::Response::from_data(page).with_status_code(404), Path::new("404.html"))
        }
    }
}

fn with_type(response: Response, file: &Path) -> Response {
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    let value = match mime.type_() {
        mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
        _ => mime.to_string(),
    };
    response.with_header(header("Content-Type", &value))
}

fn text(status: u16, body: &str) -> Response {
    tiny_http::Response::from_data(body.as_bytes().to_vec())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn redirect(location: &str) -> Response {
    text(301, "moved").with_header(header("Location", location))
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

/// An HTTP client for the local server that returns 4xx and 5xx responses
/// instead of failing on them.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// Status, content type and body of `url`.
pub fn fetch(agent: &ureq::Agent, url: &str) -> (u16, String, Vec<u8>) {
    let mut response = agent.get(url).call().unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec().unwrap_or_else(|error| panic!("read {url}: {error}"));
    (status, content_type, body)
}
