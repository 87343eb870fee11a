use std::path::PathBuf;

use super::*;
use crate::bib::{self, Bibliography};
use crate::content::{Page, Paper, TaxonomyRef};

const TREE: &str = "\
- id: rnn-theory
  label: RNN を理論的に理解する
  group: true
- id: transformer-improve
  label: トランスフォーマーを工夫する
  children:
    - id: efficient-attention
      label: セルフアテンションの計算量に対処する
      group: true
      children:
        - id: low-rank
          label: '$QK^\\top$ を低ランク近似する'
    - id: qk-alignment
      label: ヘッド間でQ, Kの分布を一致させる正則化をする
";

fn paper(number: usize, attachments: &[(&str, &str)]) -> Page {
    let key = format!("p{number}");
    let header = attachments.iter().fold(format!("key: {key}\ntaxonomy:\n"), |header, (node, summary)| {
        format!("{header}  - node: {node}\n    summary: {summary}\n")
    });
    Page {
        source: PathBuf::from(format!("content/papers/{number:02}-p.md")),
        url_path: format!("papers/{number:02}-p/"),
        title: String::new(),
        weight: None,
        node: None,
        paper: Some(Paper {
            key,
            number: 0,
            taxonomy: attachments
                .iter()
                .map(|(node, summary)| TaxonomyRef { node: node.to_string(), summary: summary.to_string() })
                .collect(),
            draft: false,
            inline_bib: None,
            headline: None,
        }),
        body: String::new(),
        body_line: 1,
        header,
        meta: Default::default(),
    }
}

fn library(pages: Vec<Page>) -> Library {
    let mut bibliography = Bibliography::default();
    for page in &pages {
        let key = &page.paper.as_ref().unwrap().key;
        let text = format!("@misc{{{key},\n title = {{T}},\n}}\n");
        for reference in bib::parse_entries(Path::new("bib/t.bib"), &text, 1).unwrap() {
            bibliography.insert(reference).unwrap();
        }
    }
    Library::assemble(pages, &mut bibliography).unwrap()
}

fn tree() -> Taxonomy {
    Taxonomy::parse(Path::new("content/taxonomy.yaml"), TREE).unwrap()
}

fn render(library: &Library) -> HashMap<String, String> {
    let taxonomy = tree();
    let attachments = attach(library, &taxonomy).unwrap();
    let cite = |n: usize| format!("[{n}]");
    let inline = |text: &str, _: &Path, _: usize| -> Result<String, Diagnostics> { Ok(text.replace("$QK^\\top$", "QK")) };
    let mut group_pages = HashMap::new();
    group_pages.insert("rnn-theory".to_string(), "/groups/rnn/".to_string());
    TreeRenderer {
        taxonomy: &taxonomy,
        attachments: &attachments,
        cite: &cite,
        inline: &inline,
        group_pages: &group_pages,
        unclassified_label: "未分類",
    }
    .render_all()
    .unwrap()
}

fn sample() -> Library {
    library(vec![
        paper(1, &[("transformer-improve.efficient-attention.low-rank", "カーネル法を応用する")]),
        paper(2, &[("rnn-theory", "カーネル法と捉える")]),
        paper(3, &[("rnn-theory", "理論保証の制約を緩和する")]),
        paper(4, &[("rnn-theory", "理論保証の制約を緩和する")]),
        paper(5, &[("transformer-improve.qk-alignment", "ヘッド間でQ, Kの分布を一致させる正則化をする")]),
        paper(6, &[]),
        paper(7, &[("transformer-improve.efficient-attention", "セルフアテンションの計算量に対処する")]),
    ])
}

#[test]
fn nodes_get_dotted_paths_and_lines() {
    let taxonomy = tree();
    let low_rank = taxonomy.find("transformer-improve.efficient-attention.low-rank").unwrap();
    assert_eq!(low_rank.line, 11);
    assert!(taxonomy.find("low-rank").is_none());
}

#[test]
fn overview_collapses_groups_and_lists_unclassified() {
    let html = render(&sample());
    let overview = &html[""];
    assert!(overview.contains("<li class=\"group\"><a href=\"/groups/rnn/\">RNN を理論的に理解する</a> [2] [3] [4]</li>"), "{overview}");
    assert!(overview.contains("<li class=\"group\">セルフアテンションの計算量に対処する [1] [7]</li>"), "{overview}");
    assert!(overview.contains("<li>ヘッド間でQ, Kの分布を一致させる正則化をする [5]</li>"), "{overview}");
    assert!(overview.contains("<li class=\"unclassified\">未分類 [6]</li>"), "{overview}");
    let transformer = overview.find("トランスフォーマーを工夫する").unwrap();
    assert!(overview.find("セルフアテンション").unwrap() > transformer);
}

#[test]
fn group_page_shows_summary_lines_grouped() {
    let html = render(&sample());
    let rnn = &html["rnn-theory"];
    assert_eq!(rnn, "<ul class=\"taxonomy\">\n<li>カーネル法と捉える [2]</li>\n<li>理論保証の制約を緩和する [3] [4]</li>\n</ul>\n");
    let efficient = &html["transformer-improve.efficient-attention"];
    assert!(efficient.contains("<li>QK を低ランク近似する\n<ul>\n<li>カーネル法を応用する [1]</li>\n</ul>\n</li>"), "{efficient}");
}

#[test]
fn unknown_node_suggests_full_path() {
    let library = library(vec![paper(1, &[("low-rank", "x")])]);
    let errors = attach(&library, &tree()).unwrap_err();
    let error = errors.iter().next().unwrap();
    assert_eq!(error.message.id, "taxonomy-node-unknown");
    assert_eq!(error.line, Some(4));
    assert_eq!(error.suggestion.as_deref(), Some("transformer-improve.efficient-attention.low-rank"));
}

#[test]
fn duplicate_and_invalid_ids_are_errors() {
    let errors = Taxonomy::parse(Path::new("t.yaml"), "- id: a\n  label: A\n- id: a\n  label: B\n- id: a.b\n  label: C\n").unwrap_err();
    let ids: Vec<_> = errors.iter().map(|d| (d.message.id, d.line)).collect();
    assert_eq!(ids, [("taxonomy-id-duplicate", Some(3)), ("taxonomy-id-invalid", Some(5))]);
}

#[test]
fn unknown_field_in_tree_is_located() {
    let errors = Taxonomy::parse(Path::new("t.yaml"), "- id: a\n  lable: A\n").unwrap_err();
    let error = errors.iter().next().unwrap();
    assert_eq!(error.message.id, "field-unknown");
    assert_eq!(error.suggestion.as_deref(), Some("label"));
    assert_eq!(error.line, Some(2));
}
