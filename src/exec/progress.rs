//! Progress display for long compiles and runs (indicatif), and live output in verbose mode.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::diagnostics::Message;
use crate::i18n::{Catalog, Lang};

/// A spinner on stderr with the elapsed time. It draws nothing when stderr is not a
/// terminal or when disabled, but verbose output is still printed.
#[derive(Clone)]
pub(crate) struct Progress {
    bar: ProgressBar,
    catalog: Arc<Catalog>,
    verbose: bool,
}

impl Progress {
    pub fn new(enabled: bool, verbose: bool, lang: Lang) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
        );
        Progress {
            bar,
            catalog: Arc::new(Catalog::new(lang)),
            verbose,
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    fn start(&self, message: String) {
        self.bar.reset_elapsed();
        self.bar.set_message(message);
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    pub fn compiling(&self, pages: usize) {
        self.start(
            self.catalog
                .format(&Message::new("exec-compiling").arg("pages", pages)),
        );
    }

    pub fn compiled(&self, count: usize, crate_name: &str) {
        self.bar.set_message(
            self.catalog.format(
                &Message::new("exec-compiled")
                    .arg("count", count)
                    .arg("crate", crate_name),
            ),
        );
    }

    pub fn running(&self, page: &Path, block: usize, blocks: usize) {
        let message = self.catalog.format(
            &Message::new("exec-running")
                .arg("page", page.display())
                .arg("block", block + 1)
                .arg("blocks", blocks),
        );
        if block == 0 {
            self.start(message);
        } else {
            self.bar.set_message(message);
        }
    }

    /// Prints a line above the spinner.
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
