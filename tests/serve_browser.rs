//! `survey serve` in a real browser: headless Chromium opens a page, the
//! test edits the file behind it, and the open tab must reload by itself
//! and show the new text, then the error overlay, then the fixed page.
//!
//! The test talks to Chromium over the DevTools protocol (a WebSocket from
//! `--remote-debugging-port`). Without Chromium it is skipped, except in CI
//! (the `CI` variable is set), where it fails.

mod common;
mod serve_common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{copy_fixture, read};
use serde_json::{Value, json};
use serve_common::{PATIENCE, Server, http_get};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const PAPER: &str = "content/papers/01-skyformer.md";

/// Chromium's path: `$SURVEY_CHROMIUM`, or the first of the usual names on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SURVEY_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    std::env::split_paths(&std::env::var_os("PATH")?)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|path| path.is_file())
}

/// A headless Chromium with its DevTools WebSocket to the first tab.
struct Browser {
    _process: Process,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(program: &Path, url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", program.display()));
        let stderr = child.stderr.take().unwrap();
        // From here on, a failed step still ends the browser.
        let process = Process(child);

        // Chromium prints the DevTools address on stderr; keep draining the
        // pipe afterwards so that it never blocks on a full one.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = sender.send(line[at..].trim().to_string());
                }
            }
        });
        let browser_ws = receiver.recv_timeout(PATIENCE).expect("Chromium printed no DevTools address");
        let authority = browser_ws.trim_start_matches("ws://").split('/').next().unwrap().to_string();

        let page_ws = poll(|| {
            let list: Value = serde_json::from_slice(&http_get(authority.parse().unwrap(), "/json/list").body).ok()?;
            list.as_array()?
                .iter()
                .find(|target| target["type"] == "page")
                .and_then(|target| target["webSocketDebuggerUrl"].as_str().map(str::to_string))
        });
        let (socket, _) = tungstenite::connect(page_ws.as_str()).expect("connect to the tab");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
        }
        Browser { _process: process, socket, next_id: 1, _profile: profile }
    }

    /// Evaluates `expression` in the tab; `None` while the page is between
    /// documents (during a reload).
    fn evaluate(&mut self, expression: &str) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": true}});
        self.socket.send(Message::text(request.to_string())).expect("send to Chromium");
        loop {
            let Message::Text(text) = self.socket.read().expect("read from Chromium") else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] != id {
                continue; // an event
            }
            if reply.get("error").is_some() || reply["result"].get("exceptionDetails").is_some() {
                return None;
            }
            return Some(reply["result"]["result"]["value"].clone());
        }
    }

    /// Returns the tab's visible text and whether `window.marker` is unset, that
    /// is, whether the document was loaded after the marker was set.
    fn state(&mut self) -> Option<(String, bool)> {
        let value = self.evaluate("JSON.stringify([document.body ? document.body.innerText : '', window.marker === undefined])")?;
        let (text, fresh): (String, bool) = serde_json::from_str(value.as_str()?).ok()?;
        Some((text, fresh))
    }

    /// Marks the current document, then waits for a new document whose text
    /// satisfies `accept`.
    fn wait_for_reload(&mut self, edit: impl FnOnce(), accept: impl Fn(&str) -> bool) -> String {
        self.evaluate("window.marker = 1").expect("set the marker");
        edit();
        poll(|| {
            let (text, fresh) = self.state()?;
            (fresh && accept(&text)).then_some(text)
        })
    }
}

/// The browser process, ended when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        // SIGTERM lets Chromium end its helper processes; kill it if it lingers.
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Calls `probe` until it returns a value, for at most [`PATIENCE`].
fn poll<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting in the browser");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn edit(root: &Path, from: &str, to: &str) {
    let path = root.join(PAPER);
    let text = read(&path);
    assert!(text.contains(from), "{PAPER} lacks {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn browser_tab_reloads_on_edit() {
    let Some(chromium) = find_chromium() else {
        assert!(std::env::var_os("CI").is_none(), "Chromium is required in CI: install the `chromium` package");
        eprintln!("skipped: no Chromium found (set SURVEY_CHROMIUM or install chromium)");
        return;
    };
    let dir = copy_fixture("basic");
    let server = Server::start(dir.path());
    let mut browser = Browser::open(&chromium, &format!("{}papers/01-skyformer/", server.url));
    poll(|| browser.state().filter(|(text, _)| text.contains("近似します")));

    let root = dir.path();
    let text = browser.wait_for_reload(|| edit(root, "近似します", "ブラウザで書き換えました"), |text| text.contains("ブラウザで書き換えました"));
    assert!(!text.contains("近似します"));

    let overlay = browser.wait_for_reload(|| edit(root, "title: Skyformer", "titel: Skyformer"), |text| text.contains("ビルドに失敗しました"));
    assert!(overlay.contains(&format!("{PAPER}:3:1")), "{overlay}");
    assert!(overlay.contains("未知のフィールド `titel` があります。"), "{overlay}");

    let fixed = browser.wait_for_reload(|| edit(root, "titel: Skyformer", "title: Skyformer"), |text| text.contains("ブラウザで書き換えました"));
    assert!(!fixed.contains("ビルドに失敗しました"));
}
