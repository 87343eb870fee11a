//! Helpers for the `survey serve` tests: the real binary on a free port, a
//! raw HTTP/1.1 client and a reader of the live-reload event stream.
//!
//! The client writes request lines byte for byte, because the traversal
//! tests need paths such as `/../x` that URL libraries normalise away.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for the server to start, build or respond.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running `survey serve`.
pub struct Server {
    child: Child,
    lines: Receiver<String>,
    /// Every stderr line so far, for failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
    /// The URL the server printed, such as `http://127.0.0.1:4000/repo/`.
    pub url: String,
}

impl Server {
    /// Starts `survey serve --port 0` in `dir` and waits until it prints its URL.
    pub fn start(dir: &Path) -> Server {
        Self::start_with(dir, &["serve", "--port", "0"])
    }

    pub fn start_with(dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_survey"))
            .args(args)
            .current_dir(dir)
            .env_remove("SURVEY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start survey serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                shared_log.lock().unwrap().push(line.clone());
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, lines, log, addr: "127.0.0.1:1".parse().unwrap(), url: String::new() };
        let line = server.wait_for_line(|line| line.contains("http://"));
        let start = line.find("http://").unwrap();
        let url: String = line[start..].chars().take_while(|c| !c.is_whitespace() && *c != ';').collect();
        let authority = url.trim_start_matches("http://").split('/').next().unwrap();
        server.addr = authority.parse().unwrap_or_else(|_| panic!("no address in {line:?}"));
        server.url = url;
        server
    }

    /// Waits for the next stderr line that satisfies `accept`, skipping others.
    pub fn wait_for_line(&mut self, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if accept(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("timed out; server said:\n{}", self.log_text()),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("server exited ({:?}); it said:\n{}", self.child.try_wait(), self.log_text())
                }
            }
        }
    }

    /// Lines printed since the last call that satisfy `accept`, collected
    /// for `quiet` after the last one.
    pub fn lines_until_quiet(&mut self, quiet: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            lines.push(line);
        }
        lines
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http_get(self.addr, path)
    }

    pub fn events(&self, path: &str) -> EventStream {
        EventStream::open(self.addr, path)
    }

    /// Sends `signal` and waits for the process to exit.
    pub fn stop_with(mut self, signal: rustix::process::Signal) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("child pid");
        rustix::process::kill_process(pid, signal).expect("signal the server");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for server") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop; it said:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET path` exactly as written and reads the response: as many
/// bytes as `Content-Length` gives, the chunks of a chunked body, or up to
/// the end of the connection.
pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to server");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);

    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("read status line");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read header");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let response = HttpResponse { status, headers, body: Vec::new() };
    let body = if let Some(length) = response.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("read body");
        body
    } else if response.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunks(&mut reader)
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).expect("read body");
        body
    };
    HttpResponse { body, ..response }
}

fn read_chunks(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).expect("read chunk size");
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).expect("chunk size");
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).expect("read chunk");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// A reader of a Server-Sent Events stream.
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

/// One event: its name and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

impl EventStream {
    pub fn open(addr: SocketAddr, path: &str) -> EventStream {
        let mut stream = TcpStream::connect(addr).expect("connect to server");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "event stream answered {status:?}");
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.to_ascii_lowercase().starts_with("content-type:") {
                content_type = line.clone();
            }
            if line == "\r\n" {
                break;
            }
        }
        assert!(content_type.contains("text/event-stream"), "{content_type:?}");
        EventStream { reader }
    }

    /// Reads until the next named event, skipping keep-alive comments and
    /// the chunk-size lines of the chunked encoding.
    pub fn next_event(&mut self) -> Event {
        let mut name = String::new();
        let mut data = String::new();
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line).expect("read event stream");
            assert!(read > 0, "event stream closed");
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim().to_string();
            } else if let Some(value) = line.strip_prefix("data:") {
                data = value.trim().to_string();
            } else if line.is_empty() && !name.is_empty() {
                return Event { name, data };
            }
        }
    }

    /// Reads events until one named `name`.
    pub fn wait_for(&mut self, name: &str) -> Event {
        loop {
            let event = self.next_event();
            if event.name == name {
                return event;
            }
        }
    }
}
