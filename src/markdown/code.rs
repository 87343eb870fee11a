//! Fenced code blocks: info strings, and the seam through which executed
//! `rust,exec` blocks and their outputs reach the page.
//!
//! The renderer does not find `rust,exec` blocks on its own. The execution
//! engine extracts them from the page body ([`crate::exec::extract_blocks`])
//! and runs them or takes their outputs from the freeze. The renderer gets that
//! result from an [`ExecOutputs`] and matches each fenced block it meets to the
//! engine's block that starts at the same byte of the body. So the two cannot
//! number a page's blocks differently, and a block only one of them found is
//! reported as an error.

use crate::content::Page;
use crate::exec::PageResult;
use crate::i18n::Catalog;

/// Results of the execution engine, by page: the seam between execution and
/// rendering.
pub trait ExecOutputs: Sync {
    /// Returns the engine's result for `page`, or `None` when no engine ran
    /// for it.
    fn page_outputs(&self, page: &Page) -> Option<PageOutputs<'_>>;
}

/// What the renderer needs to show the executed blocks of one page.
#[derive(Clone, Copy)]
pub struct PageOutputs<'a> {
    /// Every `rust,exec` block of the page as the engine extracted it (options,
    /// display source, byte span in the body), with its output.
    pub result: &'a PageResult,
    /// URL prefix of the page's figure files, ending in `/`: the page's own
    /// URL with the base path (`/REPO/papers/03-skyformer/`), because figures
    /// are copied next to the page's `index.html`.
    pub figure_base: &'a str,
    /// Catalog of the site's language, for labels such as 出力.
    pub catalog: &'a Catalog,
}

/// Results for no page: for rendering text that runs nothing, such as titles.
/// A `rust,exec` block then shows only its highlighted source.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExecOutputs;

impl ExecOutputs for NoExecOutputs {
    fn page_outputs(&self, _page: &Page) -> Option<PageOutputs<'_>> {
        None
    }
}

/// The parts of a fence's info string that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// Language token: `rust` for ```` ```rust,exec ````.
    pub lang: String,
    /// Whether the block is executed at build time.
    pub exec: bool,
}

impl CodeInfo {
    /// Parses an info string such as `rust`, `rust,exec` or `python title=x`.
    pub fn parse(info: &str) -> Self {
        let first = info.split_whitespace().next().unwrap_or("");
        let lang = first.split(',').next().unwrap_or("").trim().to_string();
        Self { lang, exec: crate::exec::is_exec_info(info) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_string_flags() {
        assert_eq!(CodeInfo::parse("rust,exec"), CodeInfo { lang: "rust".into(), exec: true });
        assert_eq!(CodeInfo::parse("rust exec"), CodeInfo { lang: "rust".into(), exec: true });
        assert_eq!(CodeInfo::parse("rust"), CodeInfo { lang: "rust".into(), exec: false });
        assert_eq!(CodeInfo::parse("python title=x"), CodeInfo { lang: "python".into(), exec: false });
        assert_eq!(CodeInfo::parse("python,exec"), CodeInfo { lang: "python".into(), exec: false });
    }
}
