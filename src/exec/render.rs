//! HTML for the outputs of a block. The renderer highlights the source and renders `asis`
//! output as Markdown itself, and passes the resulting HTML in.

use pulldown_cmark_escape::{escape_href, escape_html, escape_html_body_text};

use super::block::OutputMode;
use super::report::{BlockResult, Figure};
use crate::diagnostics::Message;
use crate::i18n::Catalog;

/// The HTML pieces a renderer supplies for one block.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlParts<'a> {
    /// Highlighted HTML of [`super::ExecBlock::display_source`], shown when `echo` is on.
    pub source_html: Option<&'a str>,
    /// HTML rendered from the block's stdout when `output: asis`.
    pub asis_html: Option<&'a str>,
    /// Prefix of figure URLs; figure files are addressed as `figure_base + figure.file`.
    /// Empty when figures are copied next to the page's `index.html` and addressed
    /// relative to it.
    pub figure_base: &'a str,
}

/// Renders a block: its source (when `echo` is on and `parts.source_html` is given), then
/// its output per the block's `output` option, its figures and its failure. Labels
/// (出力, 標準エラー出力, …) come from `catalog`, in the site's language.
///
/// The class names are stable, for the site's CSS. The outer element is
/// `<div class="exec-block" id="LABEL">` and contains, in order:
///
/// - the source;
/// - `<div class="exec-output">` with `<div class="exec-label">出力</div>` and
///   `<pre class="exec-stdout" tabindex="0">`, or `<div class="exec-asis">` for `output: asis`;
/// - `<div class="exec-stderr">` when the block wrote to stderr;
/// - one `<figure class="exec-figure">` with every image and a `<figcaption>` from `fig-cap`;
/// - `<div class="exec-error">` with the failure of an `error: true` block.
pub fn render_block_html(result: &BlockResult, parts: &HtmlParts, catalog: &Catalog) -> String {
    let options = &result.block.options;
    let mut html = String::new();
    html.push_str("<div class=\"exec-block\"");
    if let Some(label) = &options.label {
        html.push_str(" id=\"");
        escape_html(&mut html, label).expect("writing to a String");
        html.push('"');
    }
    html.push_str(">\n");

    if options.echo
        && let Some(source) = parts.source_html
    {
        html.push_str(source);
        html.push('\n');
    }

    let Some(output) = &result.output else {
        html.push_str(&format!(
            "<div class=\"exec-missing\">{}</div>\n</div>\n",
            catalog.text("ui-exec-not-run")
        ));
        return html;
    };

    if options.output != OutputMode::False {
        if options.output == OutputMode::Asis {
            if let Some(asis) = parts.asis_html {
                html.push_str("<div class=\"exec-asis\">\n");
                html.push_str(asis);
                html.push_str("\n</div>\n");
            }
        } else if !output.stdout.is_empty() || output.stdout_omitted > 0 {
            text_box(
                &mut html,
                "exec-output",
                "exec-stdout",
                &catalog.text("ui-exec-output"),
                &output.stdout,
            );
            omitted_note(&mut html, catalog, output.stdout_omitted);
            html.push_str("</div>\n");
        }
        if !output.stderr.is_empty() || output.stderr_omitted > 0 {
            text_box(
                &mut html,
                "exec-stderr",
                "exec-stderr-text",
                &catalog.text("ui-exec-stderr"),
                &output.stderr,
            );
            omitted_note(&mut html, catalog, output.stderr_omitted);
            html.push_str("</div>\n");
        }
        figures(
            &mut html,
            &output.figures,
            options.fig_cap.as_deref(),
            parts.figure_base,
            catalog,
        );
    }

    if let Some(failure) = &output.failure {
        text_box(
            &mut html,
            "exec-error",
            "exec-error-text",
            &catalog.text("ui-exec-error"),
            &failure.message,
        );
        html.push_str("</div>\n");
    }
    html.push_str("</div>\n");
    html
}

fn text_box(html: &mut String, class: &str, pre_class: &str, label: &str, text: &str) {
    html.push_str(&format!("<div class=\"{class}\"><div class=\"exec-label\">"));
    escape_html_body_text(&mut *html, label).expect("writing to a String");
    // tabindex: long lines scroll, and keyboard users must be able to reach them.
    html.push_str(&format!("</div><pre class=\"{pre_class}\" tabindex=\"0\"><code>"));
    escape_html_body_text(&mut *html, text).expect("writing to a String");
    html.push_str("</code></pre>");
}

fn omitted_note(html: &mut String, catalog: &Catalog, bytes: u64) {
    if bytes > 0 {
        let note = catalog.format(&Message::new("ui-exec-omitted").arg("bytes", bytes));
        html.push_str("<p class=\"exec-omitted\">");
        escape_html_body_text(&mut *html, &note).expect("writing to a String");
        html.push_str("</p>");
    }
}

/// Writes one `<figure>` holding every file of a block. An image without a caption
/// gets the alt text `Figure: NAME` (図: NAME in Japanese) from its file name.
fn figures(html: &mut String, figures: &[Figure], caption: Option<&str>, base: &str, catalog: &Catalog) {
    if figures.is_empty() {
        return;
    }
    html.push_str("<figure class=\"exec-figure\">\n");
    for figure in figures {
        let mut url = String::new();
        escape_href(&mut url, &format!("{base}{}", figure.file)).expect("writing to a String");
        let mut href = String::new();
        escape_html(&mut href, &url).expect("writing to a String");
        if figure.is_image() {
            let alt_text = match caption {
                Some(caption) => caption.to_string(),
                None => {
                    let name = figure.file.rsplit('/').next().unwrap_or(&figure.file);
                    catalog.format(&Message::new("ui-exec-figure-alt").arg("file", name))
                }
            };
            let mut alt = String::new();
            escape_html(&mut alt, &alt_text).expect("writing to a String");
            html.push_str(&format!("<img src=\"{href}\" alt=\"{alt}\">\n"));
        } else {
            let mut name = String::new();
            escape_html_body_text(&mut name, &figure.file).expect("writing to a String");
            html.push_str(&format!("<a href=\"{href}\">{name}</a>\n"));
        }
    }
    if let Some(caption) = caption {
        html.push_str("<figcaption>");
        escape_html_body_text(&mut *html, caption).expect("writing to a String");
        html.push_str("</figcaption>\n");
    }
    html.push_str("</figure>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::extract::extract_blocks;
    use crate::exec::report::{BlockFailure, BlockOutput, FailureKind};
    use crate::i18n::Lang;

    fn result(code: &str, output: BlockOutput) -> BlockResult {
        let block = extract_blocks(&format!("```rust,exec\n{code}```\n"), 1)
            .unwrap()
            .remove(0);
        BlockResult {
            block,
            output: Some(output),
        }
    }

    #[test]
    fn text_output_is_escaped_in_output_box() {
        let r = result(
            "//| label: t\n",
            BlockOutput {
                stdout: "<b>&\n".into(),
                stdout_omitted: 7,
                ..Default::default()
            },
        );
        let html = render_block_html(
            &r,
            &HtmlParts {
                source_html: Some("<pre>src</pre>"),
                ..Default::default()
            },
            &Catalog::new(Lang::Ja),
        );
        assert!(
            html.starts_with("<div class=\"exec-block\" id=\"t\">\n<pre>src</pre>\n"),
            "{html}"
        );
        assert!(html.contains("<div class=\"exec-label\">出力</div><pre class=\"exec-stdout\" tabindex=\"0\"><code>&lt;b&gt;&amp;\n</code></pre>"), "{html}");
        assert!(html.contains("7 バイトを省略"), "{html}");
    }

    #[test]
    fn figures_share_one_caption() {
        let figure = |file: &str, mime: &str| Figure {
            file: file.into(),
            mime: mime.into(),
            source: Default::default(),
        };
        let r = result(
            "//| fig-cap: 損失 <曲線>\n//| echo: false\n",
            BlockOutput {
                figures: vec![
                    figure("figures/block-1/a b.svg", "image/svg+xml"),
                    figure("figures/block-1/d.csv", "text/csv"),
                ],
                ..Default::default()
            },
        );
        let html = render_block_html(
            &r,
            &HtmlParts {
                source_html: Some("SRC"),
                ..Default::default()
            },
            &Catalog::new(Lang::Ja),
        );
        assert!(!html.contains("SRC"));
        assert!(
            html.contains("<img src=\"figures/block-1/a%20b.svg\" alt=\"損失 &lt;曲線&gt;\">"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"figures/block-1/d.csv\">figures/block-1/d.csv</a>"),
            "{html}"
        );
        assert!(
            html.contains("<figcaption>損失 &lt;曲線&gt;</figcaption>"),
            "{html}"
        );
    }

    #[test]
    fn image_without_caption_is_named_by_its_file() {
        let r = result(
            "//| label: p\n",
            BlockOutput {
                figures: vec![Figure {
                    file: "figures/p/loss.png".into(),
                    mime: "image/png".into(),
                    source: Default::default(),
                }],
                ..Default::default()
            },
        );
        let parts = HtmlParts {
            figure_base: "/repo/page/",
            ..Default::default()
        };
        let ja = render_block_html(&r, &parts, &Catalog::new(Lang::Ja));
        assert!(
            ja.contains("<img src=\"/repo/page/figures/p/loss.png\" alt=\"図: loss.png\">"),
            "{ja}"
        );
        assert!(!ja.contains("<figcaption>"), "{ja}");
        let en = render_block_html(&r, &parts, &Catalog::new(Lang::En));
        assert!(en.contains("alt=\"Figure: loss.png\""), "{en}");
    }

    #[test]
    fn missing_output_says_the_block_did_not_run() {
        let block = extract_blocks("```rust,exec\nlet a = 1;\n```\n", 1)
            .unwrap()
            .remove(0);
        let r = BlockResult {
            block,
            output: None,
        };
        let html = render_block_html(&r, &HtmlParts::default(), &Catalog::new(Lang::Ja));
        assert!(
            html.contains("<div class=\"exec-missing\">このブロックはまだ実行されていないため、出力がありません。</div>"),
            "{html}"
        );
    }

    #[test]
    fn asis_and_failure_are_shown() {
        let failure = BlockFailure {
            kind: FailureKind::Panic,
            message: "boom".into(),
        };
        let r = result(
            "//| output: asis\n//| error: true\n",
            BlockOutput {
                stdout: "**x**".into(),
                failure: Some(failure),
                ..Default::default()
            },
        );
        let html = render_block_html(
            &r,
            &HtmlParts {
                asis_html: Some("<p><strong>x</strong></p>"),
                ..Default::default()
            },
            &Catalog::new(Lang::En),
        );
        assert!(
            html.contains("<div class=\"exec-asis\">\n<p><strong>x</strong></p>\n</div>"),
            "{html}"
        );
        assert!(!html.contains("exec-stdout"));
        assert!(html.contains("<div class=\"exec-error\"><div class=\"exec-label\">Error</div><pre class=\"exec-error-text\" tabindex=\"0\"><code>boom</code></pre></div>"), "{html}");
    }

    #[test]
    fn output_false_hides_everything_but_failure() {
        let r = result(
            "//| output: false\n",
            BlockOutput {
                stdout: "hidden".into(),
                stderr: "also".into(),
                ..Default::default()
            },
        );
        let html = render_block_html(&r, &HtmlParts::default(), &Catalog::new(Lang::En));
        assert!(!html.contains("hidden"));
        assert!(!html.contains("also"));
    }
}
