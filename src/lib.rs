//! `survey`: a static-site generator for research surveys.
//!
//! One build is a pipeline of stages with one module each. [`config`]
//! reads `survey.yaml`, and [`content`] discovers pages and parses their
//! front matter. [`bib`] reads the bibliography, and [`taxonomy`] reads and
//! renders the classification tree. [`markdown`] turns page bodies into
//! HTML (math, code, citations, headings). [`site`] lays pages out with
//! templates and writes the output atomically. [`diagnostics`] and
//! [`i18n`] carry errors and messages in the site's language.
//!
//! The author's commands sit beside the pipeline: [`serve`] previews the
//! site with live reload, [`scaffold`] starts a new paper section, and
//! [`check`] finds broken links, unknown citations and loose ends.

pub mod bib;
pub mod check;
pub mod config;
pub mod content;
pub mod diagnostics;
pub mod exec;
pub mod feed;
pub mod history;
pub mod i18n;
pub mod markdown;
pub mod scaffold;
pub mod search;
pub mod serve;
pub mod site;
pub mod summary;
pub mod taxonomy;
pub mod timings;
