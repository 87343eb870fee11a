use std::path::PathBuf;

use super::*;
use crate::exec::{BlockOutput, Figure, OutputSource, PageResult};
use crate::i18n::{Catalog, Lang};

fn page(body: &str) -> Page {
    Page {
        source: PathBuf::from("content/t.md"),
        url_path: "t/".into(),
        title: "T".into(),
        weight: None,
        node: None,
        paper: None,
        body: body.into(),
        body_line: 4,
        header: "title: T\n".into(),
        meta: Default::default(),
    }
}

fn citations() -> HashMap<String, CiteTarget> {
    let mut map = HashMap::new();
    map.insert(
        "chen2021skyformer".to_string(),
        CiteTarget { label: "3".into(), href: "/papers/03-skyformer/".into(), title: "Yifan Chen. Skyformer.".into() },
    );
    map.insert("ma2021luna".to_string(), CiteTarget { label: "4".into(), href: "/papers/04-luna/".into(), title: "Luna".into() });
    map
}

fn taxonomy() -> HashMap<String, String> {
    let mut map = HashMap::new();
    map.insert(String::new(), "<ul class=\"taxonomy\">overview</ul>".to_string());
    map.insert("rnn-theory".to_string(), "<ul class=\"taxonomy\">rnn</ul>".to_string());
    map
}

fn render_body(body: &str) -> Result<Rendered, Diagnostics> {
    render_under(body, "/")
}

fn render_under(body: &str, base_path: &str) -> Result<Rendered, Diagnostics> {
    let page = page(body);
    let citations = citations();
    let taxonomy = taxonomy();
    let ctx = RenderContext { citations: &citations, taxonomy: &taxonomy, exec_outputs: &NoExecOutputs, math: MathCache::shared(), base_path };
    let prepared = prepass::prepare(&page.body, &page.source, page.body_line, MathCache::shared())?;
    render(&page, &prepared, &ctx)
}

#[test]
fn root_relative_links_get_the_base_path() {
    let body = "[節](/papers/03-skyformer/#a) ![図](/static/favicon.svg) [相対](../x/) [外部](https://example.org/) [別ホスト](//example.org/a)\n";
    let out = render_under(body, "/REPO/").unwrap().html;
    assert!(out.contains("href=\"/REPO/papers/03-skyformer/#a\""), "{out}");
    assert!(out.contains("src=\"/REPO/static/favicon.svg\""), "{out}");
    assert!(out.contains("href=\"../x/\""), "{out}");
    assert!(out.contains("href=\"https://example.org/\""), "{out}");
    assert!(out.contains("href=\"//example.org/a\""), "{out}");
    let at_root = render_under(body, "/").unwrap().html;
    assert!(at_root.contains("href=\"/papers/03-skyformer/#a\""), "{at_root}");
}

fn html(body: &str) -> String {
    render_body(body).unwrap().html
}

#[test]
fn markdown_inside_display_math_is_left_to_katex() {
    let out = html("$$\na_1 * b_2 * c_3\n- x\n= y \\\\ z\n$$\n");
    assert!(out.contains("math-display"), "{out}");
    assert!(!out.contains("<em>"), "{out}");
    assert!(!out.contains("<li>"), "{out}");
    assert!(!out.contains("<h1"), "{out}");
    assert!(out.contains("<math"), "{out}");
}

#[test]
fn underscores_in_inline_math_are_not_emphasis() {
    let out = html("式 $a_1 + b_1$ と $c_2$ です");
    assert!(!out.contains("<em>"), "{out}");
    assert_eq!(out.matches("class=\"katex\"").count(), 2, "{out}");
}

#[test]
fn escaped_dollar_is_literal() {
    let out = html(r"価格は \$5 です");
    assert!(out.contains("価格は $5 です"), "{out}");
    assert!(!out.contains("katex"));
}

#[test]
fn japanese_currency_is_text() {
    let out = html("りんごは $5、みかんは $3 です。");
    assert!(out.contains("りんごは $5、みかんは $3 です。"), "{out}");
}

#[test]
fn soft_breaks_between_cjk_disappear() {
    let out = html("日本語の\n文章と English\nwords と\n日本語");
    assert!(out.contains("日本語の文章と English\nwords と\n日本語") || out.contains("日本語の文章と English\nwords と日本語"), "{out}");
    assert!(!out.contains("の\n文"), "{out}");
}

#[test]
fn citations_link_with_tooltips() {
    let rendered = render_body("手法[@chen2021skyformer]は [@chen2021skyformer; @ma2021luna] で").unwrap();
    let out = &rendered.html;
    assert!(out.contains("<a class=\"cite\" href=\"/papers/03-skyformer/\" title=\"Yifan Chen. Skyformer.\">[3]</a>"), "{out}");
    assert!(out.contains("[3]</a> <a class=\"cite\" href=\"/papers/04-luna/\" title=\"Luna\">[4]</a>"), "{out}");
    assert!(out.contains("id=\"cite-1\"") && out.contains("id=\"cite-2\""), "{out}");
    assert!(out.contains("</span>は"), "{out}");
    assert_eq!(
        rendered.citation_anchors,
        [("chen2021skyformer".to_string(), "cite-1".to_string()), ("ma2021luna".to_string(), "cite-2".to_string())]
    );
}

#[test]
fn unknown_citation_suggests_near_key() {
    let errors = render_body("a\n\nb [@chen2021skyfromer]").unwrap_err();
    let error = errors.iter().next().unwrap();
    assert_eq!(error.message.id, "cite-unknown");
    assert_eq!((error.line, error.column), (Some(6), Some(3)));
    assert_eq!(error.suggestion.as_deref(), Some("chen2021skyformer"));
}

#[test]
fn headings_get_unique_japanese_ids_and_toc() {
    let rendered = render_body("## まえがき\n\n## まえがき\n\n### 式 $N^2$ の話 [@ma2021luna]\n\n## Custom {#given}\n").unwrap();
    let ids: Vec<&str> = rendered.toc.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["まえがき", "まえがき-1", "式-n2-の話", "given"]);
    for entry in &rendered.toc {
        assert!(rendered.html.contains(&format!("id=\"{}\"", entry.id)), "{}", entry.id);
    }
    assert!(rendered.toc[2].html.contains("katex"));
    assert!(!rendered.toc[2].html.contains("id=\"cite-"), "{}", rendered.toc[2].html);
    assert_eq!(rendered.toc[2].level, 3);
}

#[test]
fn code_is_highlighted_with_classes() {
    let out = html("```rust\nfn main() { let x = 1; }\n```\n\n```python\nprint('$x$')\n```\n");
    assert!(out.contains("language-rust"));
    assert!(out.contains("class=\"hl-"), "{out}");
    assert!(out.contains("$x$"), "math inside code must stay: {out}");
}

#[test]
fn exec_blocks_hide_options_and_hidden_lines() {
    let out = html("```rust,exec\n//| echo: true\n# use std::fmt;\nfn main() {}\n```\n");
    assert!(!out.contains("echo"), "{out}");
    assert!(!out.contains("fmt"), "{out}");
    assert!(out.contains("main"), "{out}");
}

/// Engine results made by hand: the blocks the engine extracts from the
/// page, each given the output `outputs[i]`.
struct Results {
    result: PageResult,
    figure_base: String,
    catalog: Catalog,
}

impl Results {
    fn new(page: &Page, outputs: Vec<BlockOutput>) -> Self {
        let blocks = extract_blocks(&page.body, page.body_line).unwrap();
        assert_eq!(blocks.len(), outputs.len(), "one output per block");
        let blocks = blocks.into_iter().zip(outputs).map(|(block, output)| BlockResult { block, output: Some(output) }).collect();
        let result = PageResult { path: page.source.clone(), source: OutputSource::Executed, blocks };
        Self { result, figure_base: "/sub/t/".into(), catalog: Catalog::new(Lang::Ja) }
    }
}

impl ExecOutputs for Results {
    fn page_outputs(&self, _page: &Page) -> Option<PageOutputs<'_>> {
        Some(PageOutputs { result: &self.result, figure_base: &self.figure_base, catalog: &self.catalog })
    }
}

fn stdout(text: &str) -> BlockOutput {
    BlockOutput { stdout: text.into(), ..BlockOutput::default() }
}

fn render_with(page: &Page, results: &Results) -> Result<Rendered, Diagnostics> {
    let (citations, taxonomy) = (citations(), taxonomy());
    let ctx = RenderContext { citations: &citations, taxonomy: &taxonomy, exec_outputs: results, math: MathCache::shared(), base_path: "/" };
    let prepared = prepass::prepare(&page.body, &page.source, page.body_line, MathCache::shared()).unwrap();
    render(page, &prepared, &ctx)
}

#[test]
fn exec_outputs_follow_their_blocks() {
    let page = page("```rust,exec\nlet a = 1;\n```\n\n```rust\nplain\n```\n\n```rust,exec\n//| echo: false\nlet b = a;\n```\n");
    let results = Results::new(&page, vec![stdout("first <out>\n"), stdout("second\n")]);
    let out = render_with(&page, &results).unwrap().html;
    let first = out.find("first &lt;out&gt;").expect("first output, escaped");
    let plain = out.find("plain").unwrap();
    let second = out.find("second").unwrap();
    assert!(first < plain && plain < second, "{out}");
    assert!(out.contains("<div class=\"exec-label\">出力</div>"), "{out}");
    assert!(out.contains("let"), "the first block's source is shown: {out}");
    assert!(!out.contains("b</span>"), "echo: false hides the second source: {out}");
}

#[test]
fn blocks_after_math_and_citations_keep_their_outputs() {
    // Placeholders make the prepared text shorter than the body, so block
    // offsets must be mapped back before they are matched.
    let body = "式 $a_1 + b_2$ と [@chen2021skyformer; @ma2021luna]。\n\n$$\nx^2\n$$\n\n- 項目\n\n  ```rust,exec\n  println!(\"{}\", 1);\n  ```\n\n> 引用 $y$\n>\n> ```rust,exec\n> println!(\"{}\", 2);\n> ```\n";
    let page = page(body);
    let results = Results::new(&page, vec![stdout("in a list\n"), stdout("in a quote\n")]);
    let out = render_with(&page, &results).unwrap().html;
    assert!(out.contains("in a list"), "{out}");
    assert!(out.contains("in a quote"), "{out}");
}

#[test]
fn asis_output_is_rendered_as_markdown() {
    let page = page("## 結果\n\n```rust,exec\n//| output: asis\nprintln!(\"table\");\n```\n");
    let printed = "## 結果\n\n| n | $n^2$ |\n|---|---|\n| 2 | 4 |\n\n**太字** と [@chen2021skyformer]\n";
    let results = Results::new(&page, vec![stdout(printed)]);
    let rendered = render_with(&page, &results).unwrap();
    let out = rendered.html;
    assert!(out.contains("<div class=\"exec-asis\">"), "{out}");
    assert!(out.contains("<table>"), "{out}");
    assert!(out.contains("katex"), "math in the output is typeset: {out}");
    assert!(out.contains("<strong>太字</strong>"), "{out}");
    assert!(out.contains("href=\"/papers/03-skyformer/\""), "citations in the output link: {out}");
    assert!(out.contains("<h2 id=\"結果\">"), "{out}");
    assert!(out.contains("<h2 id=\"結果-1\">"), "heading ids stay unique in the page: {out}");
    assert!(!out.contains("exec-stdout"), "{out}");
    assert_eq!(rendered.toc.len(), 1, "headings of the output are not in the page's TOC");
}

#[test]
fn asis_output_with_unknown_citation_fails_at_the_block() {
    let page = page("本文\n\n```rust,exec\n//| output: asis\nprintln!(\"x\");\n```\n");
    let results = Results::new(&page, vec![stdout("see [@nobody2021]\n")]);
    let errors = render_with(&page, &results).unwrap_err();
    let error = errors.iter().next().unwrap();
    assert_eq!(error.message.id, "cite-unknown");
    assert_eq!(error.line, Some(4 + 2), "the line of the block's fence");
}

#[test]
fn figures_use_the_page_url() {
    let page = page("```rust,exec\n//| fig-cap: 重み\nlet x = 1;\n```\n");
    let figure = Figure { file: "figures/block-1/w.svg".into(), mime: "image/svg+xml".into(), source: PathBuf::new() };
    let results = Results::new(&page, vec![BlockOutput { figures: vec![figure], ..BlockOutput::default() }]);
    let out = render_with(&page, &results).unwrap().html;
    assert!(out.contains("<img src=\"/sub/t/figures/block-1/w.svg\" alt=\"重み\">"), "{out}");
    assert!(out.contains("<figcaption>重み</figcaption>"), "{out}");
}

#[test]
fn block_the_engine_did_not_find_is_an_error() {
    let page = page("```rust,exec\nlet a = 1;\n```\n");
    let mut results = Results::new(&page, vec![stdout("x\n")]);
    results.result.blocks[0].block.span = 1..2;
    let errors = render_with(&page, &results).unwrap_err();
    let ids: Vec<&str> = errors.iter().map(|e| e.message.id).collect();
    assert_eq!(ids, ["exec-block-mismatch", "exec-block-mismatch"], "the block met and the block missed");
}

#[test]
fn footnotes_link_both_ways() {
    let out = html("本文[^1]と[^note]。\n\n[^1]: 一つ目。\n[^note]: 二つ目。\n");
    assert!(out.contains("<sup class=\"footnote-ref\" id=\"fnref-1\"><a href=\"#fn-1\">1</a></sup>"), "{out}");
    assert!(out.contains("<li id=\"fn-note\" value=\"2\">"), "{out}");
    assert!(out.contains("href=\"#fnref-note\""), "{out}");
}

#[test]
fn tables_render() {
    let out = html("| a | b |\n|---|---|\n| $x$ | 2 |\n");
    assert!(out.contains("<table>"), "{out}");
    assert!(out.contains("katex"), "{out}");
}

#[test]
fn shortcodes_insert_taxonomy() {
    let out = html("前\n\n{{< taxonomy >}}\n\n{{< taxonomy node=\"rnn-theory\" >}}\n");
    assert!(out.contains("overview</ul>"), "{out}");
    assert!(out.contains("rnn</ul>"), "{out}");
    assert!(!out.contains("{{<"), "{out}");
}

#[test]
fn unknown_shortcode_node_is_an_error() {
    let errors = render_body("{{< taxonomy node=\"rnn-theroy\" >}}\n").unwrap_err();
    let error = errors.iter().next().unwrap();
    assert_eq!(error.message.id, "taxonomy-node-unknown");
    assert_eq!(error.line, Some(4));
    assert_eq!(error.suggestion.as_deref(), Some("rnn-theory"));
}

#[test]
fn shortcode_inside_a_sentence_is_an_error() {
    let errors = render_body("文の途中 {{< taxonomy >}} です\n").unwrap_err();
    assert_eq!(errors.iter().next().unwrap().message.id, "shortcode-not-alone");
}

#[test]
fn inline_render_strips_paragraph() {
    let (citations, taxonomy) = (HashMap::new(), HashMap::new());
    let ctx = plain_context(&citations, &taxonomy);
    let out = render_inline("$QK^\\top$ の成分を間引く", Path::new("content/taxonomy.yaml"), 3, &ctx).unwrap();
    assert!(out.starts_with("<span class=\"katex\">"), "{out}");
    assert!(out.ends_with("の成分を間引く"), "{out}");
}
