//! The author's classification tree (`content/taxonomy.yaml`) and its
//! rendering as nested lists.
//!
//! Rendering rules for one node:
//! 1. The node's line shows its label, then citations of the papers attached
//!    to it whose summary equals the label.
//! 2. Papers attached with another summary become child lines, one per
//!    distinct summary, ordered by their first paper number, before the child
//!    nodes.
//! 3. Child nodes follow in file order.
//! 4. In the overview a group node is one line: its label, linked to its
//!    group page when there is one, and the citations of every paper in its
//!    subtree in number order. A group page shows the subtree without the
//!    node's own line, which the page title already names.
//! 5. Papers with no taxonomy entry are listed on a final "unclassified" line
//!    of the overview.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::content::{CONTENT_DIR, Library};
use crate::diagnostics::{Diagnostic, Diagnostics, Message, closest, from_yaml_error};

/// File name of the tree, under `content/`.
pub const TAXONOMY_FILE: &str = "taxonomy.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: String,
    label: String,
    #[serde(default)]
    group: bool,
    #[serde(default)]
    children: Vec<RawNode>,
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Dotted path of ids from the root: `transformer-improve.efficient-attention`.
    pub path: String,
    /// Label in Markdown (it may contain inline math).
    pub label: String,
    /// Whether the node has its own section page.
    pub group: bool,
    pub children: Vec<Node>,
    /// Line of the node's `id:` in the taxonomy file.
    pub line: usize,
}

/// The whole tree, roots in file order.
#[derive(Debug, Clone, Default)]
pub struct Taxonomy {
    pub roots: Vec<Node>,
}

impl Taxonomy {
    /// Reads `content/taxonomy.yaml` of the site at `root`; a site without
    /// one has an empty tree.
    pub fn load(root: &Path) -> Result<Taxonomy, Diagnostics> {
        let rel = Path::new(CONTENT_DIR).join(TAXONOMY_FILE);
        match std::fs::read_to_string(root.join(&rel)) {
            Ok(text) => Self::parse(&rel, &crate::content::normalize_text(&text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Taxonomy::default()),
            Err(error) => Err(Diagnostic::new(&rel, Message::new("io-error").arg("path", rel.display()).arg("detail", error)).into()),
        }
    }

    pub fn parse(file: &Path, text: &str) -> Result<Taxonomy, Diagnostics> {
        let raw: Vec<RawNode> = if text.trim().is_empty() {
            Vec::new()
        } else {
            serde_yaml::from_str(text).map_err(|error| Diagnostics::from(from_yaml_error(file, &error, 1)))?
        };
        let mut diagnostics = Diagnostics::new();
        let mut cursor = LineCursor { lines: text.lines().collect(), next: 0 };
        let roots = build_nodes(raw, "", file, &mut cursor, &mut diagnostics);
        diagnostics.into_result(Taxonomy { roots })
    }

    /// Every node, depth first in file order.
    pub fn nodes(&self) -> Vec<&Node> {
        fn walk<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
            for node in nodes {
                out.push(node);
                walk(&node.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.roots, &mut out);
        out
    }

    pub fn find(&self, path: &str) -> Option<&Node> {
        self.nodes().into_iter().find(|node| node.path == path)
    }

    /// A likely intended path for an unknown `path`: a near spelling, or the
    /// full path of a node whose own id is `path`.
    pub fn suggest(&self, path: &str) -> Option<String> {
        let nodes = self.nodes();
        let by_id = nodes.iter().find(|node| node.path.rsplit('.').next() == Some(path) || node.path.ends_with(&format!(".{path}")));
        by_id
            .map(|node| node.path.clone())
            .or_else(|| closest(path, nodes.iter().map(|node| node.path.as_str())))
    }
}

/// Finds the line of each node's `id:` in file order.
struct LineCursor<'t> {
    lines: Vec<&'t str>,
    next: usize,
}

impl LineCursor<'_> {
    fn line_of_id(&mut self, id: &str) -> usize {
        let found = self.lines[self.next..].iter().position(|line| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix("id:").is_some_and(|value| value.trim().trim_matches(['"', '\'']) == id)
        });
        match found {
            Some(offset) => {
                self.next += offset + 1;
                self.next
            }
            None => self.next.max(1),
        }
    }
}

fn build_nodes(raw: Vec<RawNode>, prefix: &str, file: &Path, cursor: &mut LineCursor, diagnostics: &mut Diagnostics) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for raw_node in raw {
        let line = cursor.line_of_id(&raw_node.id);
        let valid = !raw_node.id.is_empty() && raw_node.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            diagnostics.push(Diagnostic::new(file, Message::new("taxonomy-id-invalid").arg("id", &raw_node.id)).at_line(line));
        }
        let path = if prefix.is_empty() { raw_node.id.clone() } else { format!("{prefix}.{}", raw_node.id) };
        if nodes.iter().any(|node| node.path == path) {
            diagnostics.push(Diagnostic::new(file, Message::new("taxonomy-id-duplicate").arg("id", &raw_node.id)).at_line(line));
        }
        let children = build_nodes(raw_node.children, &path, file, cursor, diagnostics);
        nodes.push(Node { path, label: raw_node.label, group: raw_node.group, children, line });
    }
    nodes
}

/// A paper attached to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub number: usize,
    /// Summary in Markdown.
    pub summary: String,
    /// Where the summary is written, for errors while rendering it.
    pub file: std::path::PathBuf,
    pub line: usize,
}

/// Papers by node path, and papers attached nowhere.
#[derive(Debug, Clone, Default)]
pub struct Attachments {
    pub by_node: HashMap<String, Vec<Attached>>,
    pub unclassified: Vec<usize>,
}

/// Checks every paper's `taxonomy` entries against the tree.
pub fn attach(library: &Library, taxonomy: &Taxonomy) -> Result<Attachments, Diagnostics> {
    let mut attachments = Attachments::default();
    let mut diagnostics = Diagnostics::new();
    for page in library.papers() {
        let paper = page.paper.as_ref().expect("papers only");
        if paper.taxonomy.is_empty() {
            attachments.unclassified.push(paper.number);
        }
        for entry in &paper.taxonomy {
            let line = page.header_line_of(&format!("node: {}", entry.node));
            if taxonomy.find(&entry.node).is_none() {
                diagnostics.push(
                    Diagnostic::new(&page.source, Message::new("taxonomy-node-unknown").arg("node", &entry.node))
                        .at_line(line)
                        .suggest(taxonomy.suggest(&entry.node)),
                );
                continue;
            }
            attachments.by_node.entry(entry.node.clone()).or_default().push(Attached {
                number: paper.number,
                summary: entry.summary.clone(),
                file: page.source.clone(),
                line: page.header_line_of(&entry.summary).max(line),
            });
        }
    }
    for papers in attachments.by_node.values_mut() {
        papers.sort_by_key(|attached| attached.number);
    }
    diagnostics.into_result(attachments)
}

/// What rendering the tree needs from the rest of the site.
pub struct TreeRenderer<'a> {
    pub taxonomy: &'a Taxonomy,
    pub attachments: &'a Attachments,
    /// Citation HTML for a paper number.
    pub cite: &'a dyn Fn(usize) -> String,
    /// Inline Markdown → HTML for labels and summaries, located for errors.
    pub inline: &'a (dyn Fn(&str, &Path, usize) -> Result<String, Diagnostics> + Sync),
    /// URL of the group page showing a node, by node path.
    pub group_pages: &'a HashMap<String, String>,
    /// Label of the final line listing unclassified papers.
    pub unclassified_label: &'a str,
}

impl TreeRenderer<'_> {
    /// HTML of the overview (key `""`) and of each node's subtree (key: the
    /// node's path).
    pub fn render_all(&self) -> Result<HashMap<String, String>, Diagnostics> {
        let mut diagnostics = Diagnostics::new();
        let mut labels = HashMap::new();
        for node in self.taxonomy.nodes() {
            let file = Path::new(CONTENT_DIR).join(TAXONOMY_FILE);
            match (self.inline)(&node.label, &file, node.line) {
                Ok(html) => {
                    labels.insert(node.path.clone(), html);
                }
                Err(errors) => diagnostics.extend(errors),
            }
        }
        let mut summaries = HashMap::new();
        for attached in self.attachments.by_node.values().flatten() {
            match (self.inline)(&attached.summary, &attached.file, attached.line) {
                Ok(html) => {
                    summaries.insert(attached.summary.clone(), html);
                }
                Err(errors) => diagnostics.extend(errors),
            }
        }
        if !diagnostics.is_empty() {
            return Err(diagnostics);
        }

        let html = Html { tree: self, labels: &labels, summaries: &summaries };
        let mut out = HashMap::new();
        out.insert(String::new(), html.overview());
        for node in self.taxonomy.nodes() {
            out.insert(node.path.clone(), html.subtree(node));
        }
        Ok(out)
    }
}

struct Html<'a, 'r> {
    tree: &'a TreeRenderer<'r>,
    labels: &'a HashMap<String, String>,
    summaries: &'a HashMap<String, String>,
}

impl Html<'_, '_> {
    fn overview(&self) -> String {
        let mut html = String::from("<ul class=\"taxonomy\">\n");
        for node in &self.tree.taxonomy.roots {
            html.push_str(&self.node_line(node, true));
        }
        let unclassified = &self.tree.attachments.unclassified;
        if !unclassified.is_empty() {
            html.push_str(&format!(
                "<li class=\"unclassified\">{} {}</li>\n",
                self.tree.unclassified_label,
                self.cites(unclassified.iter().copied())
            ));
        }
        html.push_str("</ul>\n");
        html
    }

    fn subtree(&self, node: &Node) -> String {
        let mut html = String::from("<ul class=\"taxonomy\">\n");
        let own = self.own_papers(node);
        if !own.is_empty() {
            html.push_str(&format!("<li>{} {}</li>\n", self.labels[&node.path], self.cites(own.into_iter())));
        }
        html.push_str(&self.inner_lines(node, false));
        html.push_str("</ul>\n");
        html
    }

    /// One `<li>` for `node`; in the overview a group collapses to one line.
    fn node_line(&self, node: &Node, overview: bool) -> String {
        let label = match self.tree.group_pages.get(&node.path) {
            Some(href) if overview && node.group => format!("<a href=\"{href}\">{}</a>", self.labels[&node.path]),
            _ => self.labels[&node.path].clone(),
        };
        if overview && node.group {
            let numbers: BTreeSet<usize> = self.subtree_papers(node);
            return format!("<li class=\"group\">{label}{}</li>\n", self.spaced_cites(numbers.into_iter()));
        }
        let own = self.own_papers(node);
        let inner = self.inner_lines(node, overview);
        let nested = if inner.is_empty() { String::new() } else { format!("\n<ul>\n{inner}</ul>\n") };
        format!("<li>{label}{}{nested}</li>\n", self.spaced_cites(own.into_iter()))
    }

    /// Summary lines (rule 2) then child nodes (rule 3).
    fn inner_lines(&self, node: &Node, overview: bool) -> String {
        let mut html = String::new();
        let mut summaries: Vec<(&str, Vec<usize>)> = Vec::new();
        for attached in self.attached(node) {
            if attached.summary == node.label {
                continue;
            }
            match summaries.iter_mut().find(|(summary, _)| *summary == attached.summary) {
                Some((_, numbers)) => numbers.push(attached.number),
                None => summaries.push((&attached.summary, vec![attached.number])),
            }
        }
        for (summary, numbers) in summaries {
            html.push_str(&format!("<li>{}{}</li>\n", self.summaries[summary], self.spaced_cites(numbers.into_iter())));
        }
        for child in &node.children {
            html.push_str(&self.node_line(child, overview));
        }
        html
    }

    fn attached(&self, node: &Node) -> &[Attached] {
        self.tree.attachments.by_node.get(&node.path).map_or(&[], Vec::as_slice)
    }

    fn own_papers(&self, node: &Node) -> Vec<usize> {
        self.attached(node).iter().filter(|a| a.summary == node.label).map(|a| a.number).collect()
    }

    fn subtree_papers(&self, node: &Node) -> BTreeSet<usize> {
        let mut numbers: BTreeSet<usize> = self.attached(node).iter().map(|a| a.number).collect();
        for child in &node.children {
            numbers.extend(self.subtree_papers(child));
        }
        numbers
    }

    fn cites(&self, numbers: impl Iterator<Item = usize>) -> String {
        numbers.map(|n| (self.tree.cite)(n)).collect::<Vec<_>>().join(" ")
    }

    /// Citations preceded by a space, or nothing.
    fn spaced_cites(&self, numbers: impl Iterator<Item = usize>) -> String {
        let cites = self.cites(numbers);
        if cites.is_empty() { cites } else { format!(" {cites}") }
    }
}

#[cfg(test)]
mod tests;
