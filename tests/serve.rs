//! `survey serve` end to end: the real binary on a free port, a copy of the
//! fixture site, and plain HTTP requests and event streams.

mod common;
mod serve_common;

use std::path::Path;
use std::time::Duration;

use common::{copy_fixture, read};
use rustix::process::Signal;
use serve_common::Server;

const PAPER: &str = "content/papers/01-skyformer.md";
const PAPER_URL: &str = "/papers/01-skyformer/";

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = read(&path);
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn serve_injects_script_and_sets_types() {
    let dir = copy_fixture("basic");
    let media = dir.path().join("content/media");
    std::fs::create_dir_all(&media).unwrap();
    let assets: [(&str, &[u8], &str); 6] = [
        ("app.js", b"console.log(1);", "text/javascript"),
        ("figure.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "image/svg+xml"),
        ("module.wasm", b"\0asm\x01\0\0\0", "application/wasm"),
        ("data.json", b"{\"a\":1}", "application/json"),
        ("font.woff2", b"wOF2", "font/woff2"),
        ("plot.png", b"\x89PNG\r\n\x1a\n", "image/png"),
    ];
    for (name, bytes, _) in &assets {
        std::fs::write(media.join(name), bytes).unwrap();
    }
    let server = Server::start(dir.path());
    assert_eq!(server.url, format!("http://{}/", server.addr));

    let home = server.get("/");
    assert_eq!(home.status, 200);
    assert_eq!(home.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(home.header("cache-control"), Some("no-store"));
    let html = home.text();
    assert!(html.contains("まえがき"), "{html}");
    let script = html.find("<script data-events=\"/__survey/events\"").expect("reload script injected");
    assert!(script < html.rfind("</body>").unwrap());
    assert!(!read(dir.path().join("site/index.html")).contains("__survey"), "the script must not reach site/");

    let css = server.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(!css.text().contains("__survey"));
    for (name, bytes, content_type) in &assets {
        let response = server.get(&format!("/media/{name}"));
        assert_eq!(response.status, 200, "{name}");
        let got = response.header("content-type").unwrap();
        assert!(got.starts_with(content_type), "{name}: {got}");
        assert_eq!(response.body, *bytes, "{name}");
    }

    let directory = server.get("/papers/01-skyformer");
    assert!(matches!(directory.status, 301 | 307 | 308), "{directory:?}");
    assert_eq!(directory.header("location"), Some(PAPER_URL));

    let missing = server.get("/no/such/page/");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("ページが見つかりません"));
}

#[test]
fn serve_reloads_and_shows_overlay() {
    let dir = copy_fixture("basic");
    let server = Server::start(dir.path());
    let mut events = server.events("/__survey/events");
    let first = events.wait_for("build");

    // An edit: one reload event, then the new text.
    edit(dir.path(), PAPER, "近似します", "書き換えた本文です");
    let reload = events.wait_for("reload");
    assert_ne!(reload.data, first.data);
    let page = server.get(PAPER_URL);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("書き換えた本文です"), "{}", page.text());
    assert!(page.text().contains(&format!("data-build=\"{}\"", reload.data)));

    // A broken header: the page becomes the overlay with file, line, message and fix.
    edit(dir.path(), PAPER, "title: Skyformer", "titel: Skyformer");
    events.wait_for("reload");
    let overlay = server.get(PAPER_URL);
    assert_eq!(overlay.status, 500);
    let text = overlay.text();
    assert!(text.contains("ビルドに失敗しました"), "{text}");
    assert!(text.contains(&format!("{PAPER}:3:1")), "{text}");
    assert!(text.contains("未知のフィールド `titel` があります。"), "{text}");
    assert!(text.contains("もしかして `title` ですか?"), "{text}");
    assert!(text.contains("data-events=\"/__survey/events\""), "the overlay reloads too");
    assert!(server.get("/").text().contains("survey-build-error"), "every page shows the overlay");
    assert_eq!(server.get("/static/style.css").status, 200, "assets are still served");

    // Fixed: the page is back.
    edit(dir.path(), PAPER, "titel: Skyformer", "title: Skyformer");
    events.wait_for("reload");
    let page = server.get(PAPER_URL);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("書き換えた本文です"));
    assert!(!page.text().contains("survey-build-error"));
}

#[test]
fn serve_rebuilds_once_per_burst() {
    let dir = copy_fixture("basic");
    let mut server = Server::start(dir.path());
    server.lines_until_quiet(Duration::from_millis(500));
    let path = dir.path().join(PAPER);
    let text = read(&path);
    for round in 0..5 {
        std::fs::write(&path, text.replacen("近似します", &format!("近似します{round}"), 1)).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    server.wait_for_line(|line| line.contains("ページを site/ に書き出しました"));
    let later = server.lines_until_quiet(Duration::from_millis(1500));
    let rebuilds = later.iter().filter(|line| line.contains("再ビルドします")).count();
    assert_eq!(rebuilds, 0, "a second rebuild followed: {later:?}\n{}", server.log_text());
    assert!(server.get(PAPER_URL).text().contains("近似します4"));
}

#[test]
fn serve_rejects_traversal() {
    let dir = copy_fixture("basic");
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    let server = Server::start(dir.path());
    for path in [
        "/../secret.txt",
        "/papers/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/static/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/static\\..\\..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/secret.txt",
    ] {
        let response = server.get(path);
        assert!(matches!(response.status, 403 | 404), "{path}: {}", response.status);
        assert!(!response.text().contains("top secret"), "{path} leaked the file");
    }
    assert_eq!(server.get("/../secret.txt").status, 403);
}

#[test]
fn serve_uses_base_path() {
    let dir = copy_fixture("basic");
    edit(dir.path(), "survey.yaml", "base_url: /", "base_url: https://user.github.io/notes/");
    let server = Server::start(dir.path());
    assert_eq!(server.url, format!("http://{}/notes/", server.addr));

    let root = server.get("/");
    assert!(matches!(root.status, 302 | 307), "{root:?}");
    assert_eq!(root.header("location"), Some("/notes/"));
    let home = server.get("/notes/");
    assert_eq!(home.status, 200);
    assert!(home.text().contains("href=\"/notes/static/style.css\""));
    assert!(home.text().contains("data-events=\"/notes/__survey/events\""));
    assert_eq!(server.get("/notes/static/style.css").status, 200);
    assert_eq!(server.get("/static/style.css").status, 404);
    let redirect = server.get("/notes/papers/01-skyformer");
    assert_eq!(redirect.header("location"), Some("/notes/papers/01-skyformer/"));
    let mut events = server.events("/notes/__survey/events");
    assert_eq!(events.next_event().name, "build");
}

#[test]
fn serve_handles_concurrent_requests() {
    let dir = copy_fixture("basic");
    let server = Server::start(dir.path());
    let addr = server.addr;
    let paths = ["/", PAPER_URL, "/static/style.css", "/bibliography/", "/static/katex/katex.min.css"];
    let threads: Vec<_> = (0..48)
        .map(|thread| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|round| {
                        let path = paths[(thread + round) % paths.len()];
                        let response = serve_common::http_get(addr, path);
                        (path, response.status, response.body.len())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Event streams stay open meanwhile.
    let _streams: Vec<_> = (0..16).map(|_| server.events("/__survey/events")).collect();
    let mut count = 0;
    for thread in threads {
        for (path, status, length) in thread.join().unwrap() {
            assert_eq!(status, 200, "{path}");
            assert!(length > 0, "{path}");
            count += 1;
        }
    }
    assert_eq!(count, 480);
}

#[test]
fn serve_stops_on_sigint_and_sigterm() {
    for signal in [Signal::INT, Signal::TERM] {
        let dir = copy_fixture("basic");
        let server = Server::start(dir.path());
        // An open event stream must not hold the shutdown up.
        let _events = server.events("/__survey/events");
        let log = std::sync::Arc::clone(&server.log);
        let status = server.stop_with(signal);
        assert_eq!(status.code(), Some(0), "{signal:?}");
        std::thread::sleep(Duration::from_millis(100));
        assert!(log.lock().unwrap().iter().any(|line| line.contains("サーバーを停止しました")));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".site"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn serve_reports_taken_port() {
    let dir = copy_fixture("basic");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = common::survey(dir.path(), &["serve", "--port", &port]);
    let errors = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(errors.contains(&format!("ポート {port} はすでに使われています")), "{errors}");
    assert!(errors.contains("--port 0"), "{errors}");
}

#[test]
fn serve_speaks_english_for_en_site() {
    let dir = copy_fixture("basic");
    edit(dir.path(), "survey.yaml", "lang: ja", "lang: en");
    let mut server = Server::start(dir.path());
    assert!(server.log_text().contains("serving at http://"), "{}", server.log_text());
    let mut events = server.events("/__survey/events");
    events.wait_for("build");
    edit(dir.path(), PAPER, "title: Skyformer", "titel: Skyformer");
    events.wait_for("reload");
    server.wait_for_line(|line| line.contains("build failed with 1 error;"));
    let overlay = server.get(PAPER_URL).text();
    assert!(overlay.contains("<html lang=\"en\">"), "{overlay}");
    assert!(overlay.contains("Build failed with 1 error"), "{overlay}");
    assert!(overlay.contains("unknown field `titel`"), "{overlay}");
}

#[test]
fn serve_starts_with_broken_site() {
    let dir = copy_fixture("basic");
    edit(dir.path(), "content/appendix.md", "weight: 60", "wieght: 60");
    let server = Server::start(dir.path());
    let page = server.get("/appendix/");
    assert_eq!(page.status, 500);
    assert!(page.text().contains("content/appendix.md:3:1"), "{}", page.text());
    let mut events = server.events("/__survey/events");
    events.wait_for("build");
    edit(dir.path(), "content/appendix.md", "wieght: 60", "weight: 60");
    events.wait_for("reload");
    assert_eq!(server.get("/appendix/").status, 200);
}
