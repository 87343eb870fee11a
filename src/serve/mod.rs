//! `survey serve`: builds the site, serves `site/` on a local port, and
//! rebuilds and reloads open browser tabs whenever a source changes.
//!
//! Four parts run side by side. The HTTP server ([`http`]) runs on a tokio
//! runtime. The watcher ([`watch`]) turns notify's debounced file events
//! into batches of changed paths. The rebuild loop, on a thread of its own,
//! runs the library's build for each batch and publishes the outcome. The
//! next requests get the new files, or the error overlay ([`overlay`]) after
//! a failed build, and every open tab gets a reload event. Builds leave the
//! search index alone, because indexing takes longer than the rest of an
//! incremental build: the search indexer thread updates it once no build
//! has run for [`SEARCH_IDLE`].

mod http;
mod overlay;
mod watch;

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::config::Config;
use crate::diagnostics::{Diagnostic, Message};
use crate::i18n::Catalog;
use crate::site::{self, BuildOptions};

/// Time without new changes after which a rebuild starts. The debouncer
/// reports the events of one save within a tick of each other (a quarter
/// of its timeout), so this covers two ticks.
const QUIET: Duration = Duration::from_millis(30);

/// Time without builds after which the search index is brought up to date.
const SEARCH_IDLE: Duration = Duration::from_millis(500);

/// Port used when `--port` is not given.
pub const DEFAULT_PORT: u16 = 1111;

/// Settings of `survey serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Site root: the directory holding `survey.yaml`.
    pub root: PathBuf,
    /// Address to listen on; the loopback address unless the user names
    /// another one.
    pub interface: IpAddr,
    /// Port to listen on; 0 lets the system pick a free one.
    pub port: u16,
    /// Render the bodies of draft papers too.
    pub drafts: bool,
}

impl ServeOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), interface: IpAddr::V4(Ipv4Addr::LOCALHOST), port: DEFAULT_PORT, drafts: false }
    }
}

/// Base path and outcome of the last build, as the request handlers see them.
struct SiteState {
    /// URL path the site is served under, with leading and trailing `/`.
    base: String,
    /// Overlay page of the last build, when it failed.
    failure: Option<String>,
}

/// State shared by the request handlers and the rebuild loop.
pub(crate) struct Shared {
    site_dir: PathBuf,
    state: RwLock<SiteState>,
    /// Sends the number of each finished build (good or failed) to the
    /// open event streams.
    reload: broadcast::Sender<u64>,
    /// Ends the event streams when the server shuts down.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Number of finished builds.
    generation: AtomicU64,
}

impl Shared {
    fn base(&self) -> String {
        self.state.read().expect("state lock").base.clone()
    }
}

/// Runs the server until SIGINT or SIGTERM. Returns an error only when the
/// server cannot start; a failed build is shown in the browser instead.
pub fn serve(options: &ServeOptions, catalog: &Catalog) -> Result<(), Diagnostic> {
    let root = options.root.as_path();
    // The base path comes from survey.yaml. A file that does not parse is
    // shown in the overlay, but without the file this is no site.
    if !root.join(crate::config::CONFIG_FILE).is_file() {
        return Err(Diagnostic::new(crate::config::CONFIG_FILE, Message::new("config-missing")));
    }
    let base = Config::load(root).map(|config| config.base_path()).unwrap_or_else(|_| "/".to_string());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Diagnostic::new("survey serve", Message::new("serve-start-failed").arg("detail", error)))?;
    let address = SocketAddr::new(options.interface, options.port);
    let listener = runtime.block_on(tokio::net::TcpListener::bind(address)).map_err(|error| bind_error(address, &error))?;
    let address = listener.local_addr().map_err(|error| bind_error(address, &error))?;

    let (reload, _) = broadcast::channel(16);
    let (stopping, _) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        site_dir: root.join(site::OUTPUT_DIR),
        state: RwLock::new(SiteState { base, failure: None }),
        reload,
        stopping,
        generation: AtomicU64::new(0),
    });
    // Watch before the first build, so that an edit made during it is not
    // missed: its batch waits in the channel for the rebuild loop.
    let (changes_tx, changes_rx) = mpsc::channel();
    let watcher = watch::start(root, changes_tx).map_err(|error| {
        Diagnostic::new(root.display().to_string(), Message::new("serve-watch-failed").arg("detail", error))
    })?;
    let build_options = BuildOptions { drafts: options.drafts, search: false, ..BuildOptions::new(root) };
    let build_lock = Arc::new(Mutex::new(()));
    let (built_tx, built_rx) = mpsc::channel();
    rebuild(&shared, &build_options, &build_lock, &[]);
    let _ = built_tx.send(());
    let shutting_down = Arc::new(AtomicBool::new(false));
    let indexer = {
        let build_options = build_options.clone();
        let build_lock = Arc::clone(&build_lock);
        std::thread::spawn(move || search_loop(&built_rx, &build_options, &build_lock))
    };
    let rebuilder = {
        let shared = Arc::clone(&shared);
        let build_lock = Arc::clone(&build_lock);
        let shutting_down = Arc::clone(&shutting_down);
        std::thread::spawn(move || rebuild_loop(&changes_rx, &shared, &build_options, &build_lock, &shutting_down, &built_tx))
    };

    let url = format!("http://{address}{}", shared.base());
    eprintln!("{}", catalog.format(&Message::new("serve-listening").arg("url", &url)));
    if !options.interface.is_loopback() {
        eprintln!("{}", catalog.format(&Message::new("serve-public-interface").arg("interface", options.interface)));
    }

    let app = http::router(Arc::clone(&shared));
    let served = runtime.block_on(async {
        axum::serve(listener, app).with_graceful_shutdown(shutdown_signal(Arc::clone(&shared))).await
    });

    // Stop watching, let a build in progress finish, then leave.
    shutting_down.store(true, Ordering::SeqCst);
    watcher.stop();
    let _ = rebuilder.join();
    // The rebuild loop dropped its sender, which ends the indexer's loop.
    let _ = indexer.join();
    runtime.shutdown_background();
    served.map_err(|error| Diagnostic::new("survey serve", Message::new("serve-start-failed").arg("detail", error)))?;
    eprintln!("{}", catalog.text("serve-stopped"));
    Ok(())
}

fn bind_error(address: SocketAddr, error: &std::io::Error) -> Diagnostic {
    let message = match error.kind() {
        ErrorKind::AddrInUse => Message::new("serve-port-taken").arg("port", address.port()),
        _ => Message::new("serve-bind-failed").arg("address", address).arg("detail", error),
    };
    Diagnostic::new("--port", message)
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM, and ends every open
/// event stream so the graceful shutdown does not wait for them.
async fn shutdown_signal(shared: Arc<Shared>) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    let _ = shared.stopping.send(true);
}

/// Rebuilds once per burst of changes, merging the batches that arrive
/// close together or while the previous build runs, until the watcher is
/// dropped.
fn rebuild_loop(
    changes: &mpsc::Receiver<Vec<PathBuf>>,
    shared: &Shared,
    options: &BuildOptions,
    build_lock: &Mutex<()>,
    shutting_down: &AtomicBool,
    built: &mpsc::Sender<()>,
) {
    while let Ok(mut changed) = changes.recv() {
        // The debouncer reports each event once it is old enough, so one
        // editor save may arrive as several batches a tick apart: wait for
        // a quiet moment before building.
        while let Ok(more) = changes.recv_timeout(QUIET) {
            changed.extend(more);
        }
        if shutting_down.load(Ordering::SeqCst) {
            break;
        }
        changed.sort();
        changed.dedup();
        rebuild(shared, options, build_lock, &changed);
        // The indexer is gone only if it panicked; builds go on without it.
        let _ = built.send(());
    }
}

/// Brings the search index up to date whenever no build has run for
/// [`SEARCH_IDLE`], until the rebuild loop ends. Indexing takes no lock,
/// so a build that starts meanwhile runs at once. The index that build
/// makes stale is then dropped, and the next quiet moment indexes again.
fn search_loop(built: &mpsc::Receiver<()>, options: &BuildOptions, build_lock: &Mutex<()>) {
    while built.recv().is_ok() {
        loop {
            match built.recv_timeout(SEARCH_IDLE) {
                Ok(()) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let catalog = Catalog::new(site::site_lang(&options.root));
        let started = Instant::now();
        let indexed = site::index_stale_search(options).and_then(|pending| {
            let Some(pending) = pending else { return Ok(None) };
            let shards = pending.shards_indexed;
            let _building = build_lock.lock().expect("build lock");
            Ok(site::commit_search_index(options, pending)?.then_some(shards).filter(|&shards| shards > 0))
        });
        match indexed {
            Ok(Some(shards)) => {
                let seconds = format!("{:.2}", started.elapsed().as_secs_f64());
                eprintln!("{}", catalog.format(&Message::new("serve-search-indexed").arg("shards", shards).arg("seconds", seconds)));
            }
            Ok(None) => {}
            Err(diagnostics) => {
                for diagnostic in diagnostics.iter() {
                    eprintln!("{}\n", diagnostic.render_labeled(&catalog, "label-warning", None));
                }
            }
        }
    }
}

/// Runs one build and publishes its outcome. `changed` lists the paths
/// (relative to the site root) that caused it; empty for the first build.
fn rebuild(shared: &Shared, options: &BuildOptions, build_lock: &Mutex<()>, changed: &[PathBuf]) {
    let _building = build_lock.lock().expect("build lock");
    let root = options.root.as_path();
    // The language is read again each time, so a change of `lang` shows at
    // the next build.
    let catalog = Catalog::new(site::site_lang(root));
    if let Some(first) = changed.first() {
        let message = Message::new("serve-changed")
            .arg("path", display(first))
            .arg("others", changed.len() - 1);
        eprintln!("{}", catalog.format(&message));
    }

    let started = Instant::now();
    let outcome = site::build(options);
    let seconds = format!("{:.2}", started.elapsed().as_secs_f64());
    let failure = match outcome {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("{}\n", warning.render_labeled(&catalog, "label-warning", None));
            }
            let output = display(report.output_dir.strip_prefix(root).unwrap_or(&report.output_dir));
            let done = Message::new("build-done").arg("pages", report.pages).arg("dir", format!("{output}/")).arg("seconds", seconds);
            eprintln!("{}", catalog.format(&done));
            None
        }
        Err(diagnostics) => {
            for diagnostic in diagnostics.iter() {
                eprintln!("{}\n", diagnostic.render(&catalog));
            }
            eprintln!("{}", catalog.format(&Message::new("serve-build-failed").arg("count", diagnostics.len())));
            Some(diagnostics)
        }
    };

    let mut state = shared.state.write().expect("state lock");
    if let Ok(config) = Config::load(root) {
        state.base = config.base_path();
    }
    state.failure = failure.map(|diagnostics| overlay::render(&diagnostics, &catalog));
    drop(state);
    let generation = shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
    // No receiver is an expected state: no tab is open.
    let _ = shared.reload.send(generation);
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
