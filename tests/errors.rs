//! Bad input, one table. Each case breaks a copy of the fixture site in
//! one way and runs the real binary with `lang: ja` and with `lang: en`.
//! It checks the exit code, the location (`file:line[:column]`) and the
//! text of the message in each language. A failing case must leave the `site/`
//! of an earlier build as it was. Inputs that look wrong but are valid
//! (a byte-order mark, CRLF line ends, a decomposed file name) must build.
//!
//! Every case runs in both languages even when one fails, and all failures
//! are reported together.

mod common;

use std::fs;
use std::path::Path;

use common::{copy_fixture, read, repo_root, stderr, survey, survey_command};

const PAPER: &str = "content/papers/01-skyformer.md";
const PRIMER: &str = "content/papers/02-primer.md";
const APPENDIX: &str = "content/appendix.md";

/// What a case expects.
enum Expect {
    /// Exit code, `file:line[:column]` of the message, a piece of its text
    /// in Japanese and in English, and text that appears in both runs (a
    /// suggestion's target, a compiler message).
    Fails { code: i32, location: &'static str, ja: &'static str, en: &'static str, also: &'static [&'static str] },
    /// The build succeeds and `page` (under `site/`) contains `text`.
    Builds { page: &'static str, text: &'static str },
}

struct Case {
    name: &'static str,
    /// Arguments of `survey`.
    command: &'static [&'static str],
    /// Breaks the site copy.
    setup: fn(&Path),
    expect: Expect,
}

const BUILD: &[&str] = &["build"];
const CHECK: &[&str] = &["check"];

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = read(&path);
    assert!(text.contains(from), "{file} lacks {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn append(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    fs::write(&path, format!("{}{text}", read(&path))).unwrap();
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Adds a `rust,exec` block to the appendix (its fence is line 12), with
/// the workspace's lock file and toolchain so the block compiles with the
/// pinned `anyhow`.
fn add_exec_block(root: &Path, code: &str) {
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        fs::copy(repo_root().join(file), root.join(file)).unwrap();
    }
    append(root, APPENDIX, &format!("\n```rust,exec\n{code}\n```\n"));
}

fn cases() -> Vec<Case> {
    use Expect::{Builds, Fails};
    vec![
        // YAML syntax.
        Case {
            name: "unquoted colon in a value",
            command: BUILD,
            setup: |root| edit(root, PAPER, "title: Skyformer――", "title: Skyformer: a: b――"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:3:17", ja: "値の中にコロンと空白 (`: `) があるため、YAML として読めません", en: "the value contains a colon and a space (`: `)", also: &[] },
        },
        Case {
            name: "tab before a list item",
            command: BUILD,
            setup: |root| edit(root, PAPER, "taxonomy:\n  - node", "taxonomy:\n\t- node"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:5:1", ja: "タブ文字か、値の先頭には書けない文字", en: "a tab, or a character that cannot start a plain value", also: &[] },
        },
        Case {
            name: "tab in nested indentation",
            command: BUILD,
            setup: |root| edit(root, PAPER, "    summary: カーネル法を応用する", "    summary: カーネル法を応用する\n\tx: 1"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:7:1", ja: "インデントにタブ文字が使われています", en: "the indentation contains a tab character", also: &[] },
        },
        Case {
            name: "unclosed quote",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "title: Appendix", "title: 'Appendix"),
            expect: Fails { code: 1, location: "content/appendix.md:4:1", ja: "引用符か括弧が閉じられないまま終わっています", en: "a quote or bracket is never closed", also: &[] },
        },
        Case {
            name: "TeX backslash in double quotes",
            command: BUILD,
            setup: |root| edit(root, PAPER, "title: Skyformer――セルフアテンションの Nyström 近似", "title: \"$\\mathcal{O}(N)$ の近似\""),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:3:", ja: "ダブルクォートの中に使えないエスケープ (`\\` と次の文字) があります", en: "the double-quoted value contains an invalid escape", also: &[] },
        },
        Case {
            name: "field written twice",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "title: Appendix", "title: Appendix\ntitle: again"),
            expect: Fails { code: 1, location: "content/appendix.md:2:1", ja: "フィールド `title` が 2 回書かれています", en: "the field `title` is written twice", also: &[] },
        },
        // YAML 1.1 habits that YAML 1.2 reads differently.
        Case {
            name: "status: no",
            command: BUILD,
            setup: |root| edit(root, PRIMER, "status: draft", "status: no"),
            expect: Fails { code: 1, location: "content/papers/02-primer.md:3:9", ja: "`status` に `no` は使えません", en: "`no` is not a valid value of `status`", also: &["`draft`, `published`"] },
        },
        Case {
            name: "number with underscores",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "weight: 60", "weight: 1_000"),
            expect: Fails { code: 1, location: "content/appendix.md:3:9", ja: "`weight` には整数を書いてください (文字列が書かれています)", en: "`weight` must be a whole number, but it is text", also: &[] },
        },
        Case {
            name: "sexagesimal number",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "weight: 60", "weight: 1:00"),
            expect: Fails { code: 1, location: "content/appendix.md:3:9", ja: "`weight` には整数を書いてください (文字列が書かれています)", en: "`weight` must be a whole number, but it is text", also: &[] },
        },
        // Encodings and line ends.
        Case {
            name: "byte-order mark",
            command: BUILD,
            setup: |root| fs::write(root.join(PAPER), format!("\u{feff}{}", read(root.join(PAPER)))).unwrap(),
            expect: Builds { page: "papers/01-skyformer/index.html", text: "Skyformer――セルフアテンションの Nyström 近似" },
        },
        Case {
            name: "CRLF line ends",
            command: BUILD,
            setup: |root| fs::write(root.join(PAPER), read(root.join(PAPER)).replace('\n', "\r\n")).unwrap(),
            expect: Builds { page: "papers/01-skyformer/index.html", text: "<h2 id=\"概要\">概要</h2>" },
        },
        Case {
            name: "byte-order mark and CRLF in survey.yaml",
            command: BUILD,
            setup: |root| fs::write(root.join("survey.yaml"), format!("\u{feff}{}", read(root.join("survey.yaml")).replace('\n', "\r\n"))).unwrap(),
            expect: Builds { page: "index.html", text: "テスト用サーベイ" },
        },
        Case {
            name: "CRLF file with an error keeps its line numbers",
            command: BUILD,
            setup: |root| fs::write(root.join(APPENDIX), read(root.join(APPENDIX)).replace("weight", "wieght").replace('\n', "\r\n")).unwrap(),
            expect: Fails { code: 1, location: "content/appendix.md:3:1", ja: "未知のフィールド `wieght` があります", en: "unknown field `wieght`", also: &["`weight`"] },
        },
        Case {
            name: "decomposed (NFD) file name",
            command: BUILD,
            setup: |root| fs::rename(root.join(PRIMER), root.join("content/papers/02-\u{30d5}\u{309a}\u{30e9}\u{30a4}\u{30de}\u{30fc}.md")).unwrap(),
            expect: Builds { page: "papers/02-\u{30d7}\u{30e9}\u{30a4}\u{30de}\u{30fc}/index.html", text: "Searching for Efficient Transformers" },
        },
        // Front matter.
        Case {
            name: "unclosed front-matter fence",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "weight: 60\n---\n", "weight: 60\n\n"),
            expect: Fails { code: 1, location: "content/appendix.md:1", ja: "1 行目で始まるフロントマターが閉じられていません", en: "the front matter that starts on line 1 is never closed", also: &[] },
        },
        Case {
            name: "no front matter",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "---\ntitle: Appendix\nweight: 60\n---\n", ""),
            expect: Fails { code: 1, location: "content/appendix.md:1", ja: "フロントマター (`---` で囲んだ YAML ヘッダー) がありません", en: "does not start with front matter", also: &[] },
        },
        Case {
            name: "unknown field",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "weight: 60", "wieght: 60"),
            expect: Fails { code: 1, location: "content/appendix.md:3:1", ja: "未知のフィールド `wieght` があります", en: "unknown field `wieght`", also: &["`weight`"] },
        },
        Case {
            name: "unknown field in a taxonomy entry",
            command: BUILD,
            setup: |root| edit(root, PAPER, "    summary:", "    summry:"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:6:5", ja: "未知のフィールド `summry` があります", en: "unknown field `summry`", also: &["`summary`"] },
        },
        Case {
            name: "missing key",
            command: BUILD,
            setup: |root| edit(root, PAPER, "key: chen2021skyformer\n", ""),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:2", ja: "必須のフィールド `key` がありません", en: "missing required field `key`", also: &[] },
        },
        Case {
            name: "missing title",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "title: Appendix\n", ""),
            expect: Fails { code: 1, location: "content/appendix.md:2", ja: "必須のフィールド `title` がありません", en: "missing required field `title`", also: &[] },
        },
        Case {
            name: "taxonomy as a map instead of a list",
            command: BUILD,
            setup: |root| edit(root, PAPER, "  - node:", "    node:"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:5:5", ja: "`taxonomy` にはリスト (`- ` で始まる行)を書いてください (`名前: 値` の組が書かれています)", en: "`taxonomy` must be a list (lines starting with `- `), but it is `name: value` pairs", also: &[] },
        },
        // Papers.
        Case {
            name: "two papers with one number",
            command: BUILD,
            setup: |root| write(root, "content/papers/01-attention.md", "---\nkey: vaswani2017attention\n---\n"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:1", ja: "番号 1 の論文ファイルが 2 つあります", en: "two paper files have the number 1", also: &["content/papers/01-attention.md"] },
        },
        Case {
            name: "two papers with one key",
            command: BUILD,
            setup: |root| edit(root, PRIMER, "key: so2021primer", "key: chen2021skyformer"),
            expect: Fails { code: 1, location: "content/papers/02-primer.md:2", ja: "キー `chen2021skyformer` の論文が 2 つあります", en: "two papers have the key `chen2021skyformer`", also: &[PAPER] },
        },
        Case {
            name: "paper key without an entry",
            command: BUILD,
            setup: |root| edit(root, PRIMER, "key: so2021primer", "key: so2021primr"),
            expect: Fails { code: 1, location: "content/papers/02-primer.md:2", ja: "キー `so2021primr` の文献が bib/ にもフロントマターの `bib:` にもありません", en: "no bibliography entry for key `so2021primr`", also: &["`so2021primer`"] },
        },
        Case {
            name: "inline entry with another key",
            command: BUILD,
            setup: |root| edit(root, PRIMER, "status: draft\n", "status: draft\nbib: |\n  @misc{other2021,\n    title = {Other},\n  }\n"),
            expect: Fails { code: 1, location: "content/papers/02-primer.md:5", ja: "`bib:` のエントリのキー `other2021` が `key: so2021primer` と一致しません", en: "the key `other2021` of the entry under `bib:` differs from `key: so2021primer`", also: &[] },
        },
        // Taxonomy.
        Case {
            name: "unknown taxonomy node",
            command: BUILD,
            setup: |root| edit(root, PAPER, "node: transformer.attention.low-rank", "node: low-rank"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:5", ja: "分類ノード `low-rank` は content/taxonomy.yaml にありません", en: "taxonomy node `low-rank` is not in content/taxonomy.yaml", also: &["`transformer.attention.low-rank`"] },
        },
        Case {
            name: "unknown node in a shortcode",
            command: BUILD,
            setup: |root| edit(root, "content/groups/attention.md", "{{< taxonomy node=\"transformer.attention\" >}}", "{{< taxonomy node=\"transformer.atention\" >}}"),
            expect: Fails { code: 1, location: "content/groups/attention.md:9:1", ja: "分類ノード `transformer.atention` は content/taxonomy.yaml にありません", en: "taxonomy node `transformer.atention` is not in content/taxonomy.yaml", also: &["`transformer.attention`"] },
        },
        Case {
            name: "duplicate node id",
            command: BUILD,
            setup: |root| append(root, "content/taxonomy.yaml", "- id: transformer\n  label: もう一つ\n"),
            expect: Fails { code: 1, location: "content/taxonomy.yaml:10", ja: "ノード id `transformer` が同じ階層に 2 つあります", en: "node id `transformer` appears twice among siblings", also: &[] },
        },
        Case {
            name: "node id with a dot",
            command: BUILD,
            setup: |root| append(root, "content/taxonomy.yaml", "- id: a.b\n  label: 点\n"),
            expect: Fails { code: 1, location: "content/taxonomy.yaml:10", ja: "ノード id `a.b` は使えません", en: "node id `a.b` is not allowed", also: &[] },
        },
        Case {
            name: "unknown field in the taxonomy",
            command: BUILD,
            setup: |root| edit(root, "content/taxonomy.yaml", "  label: トランスフォーマーを工夫する", "  lable: トランスフォーマーを工夫する"),
            expect: Fails { code: 1, location: "content/taxonomy.yaml:2:3", ja: "未知のフィールド `lable` があります", en: "unknown field `lable`", also: &["`label`"] },
        },
        // Citations and the bibliography.
        Case {
            name: "unknown citation",
            command: BUILD,
            setup: |root| edit(root, APPENDIX, "[@chen2021skyformer]", "[@chen2021skyfromer]"),
            expect: Fails { code: 1, location: "content/appendix.md:6:9", ja: "引用キー `chen2021skyfromer` に該当する文献がありません", en: "citation key `chen2021skyfromer` matches no bibliography entry", also: &["`chen2021skyformer`"] },
        },
        Case {
            name: "unknown citation found by check",
            command: CHECK,
            setup: |root| edit(root, APPENDIX, "[@chen2021skyformer]", "[@chen2021skyfromer]"),
            expect: Fails { code: 1, location: "content/appendix.md:6:9", ja: "引用キー `chen2021skyfromer` に該当する文献がありません", en: "citation key `chen2021skyfromer` matches no bibliography entry", also: &["[unknown-citations]"] },
        },
        Case {
            name: "malformed BibTeX entry",
            command: BUILD,
            setup: |root| edit(root, "bib/refs.bib", "  booktitle = {NeurIPS 2017},\n", "  booktitle = {NeurIPS 2017,\n"),
            expect: Fails { code: 1, location: "bib/refs.bib:", ja: "BibTeX エントリを解析できません", en: "cannot parse the BibTeX entry", also: &[] },
        },
        Case {
            name: "BibTeX key defined twice",
            command: BUILD,
            setup: |root| write(root, "bib/more.bib", "@misc{chen2021skyformer,\n  title = {Again},\n}\n"),
            expect: Fails { code: 1, location: "bib/refs.bib:1", ja: "BibTeX キー `chen2021skyformer` が 2 回定義されています", en: "BibTeX key `chen2021skyformer` is defined twice", also: &["bib/more.bib:1"] },
        },
        Case {
            name: "BibTeX entry without a title",
            command: BUILD,
            setup: |root| edit(root, "bib/refs.bib", "  title = {Attention Is All You Need},\n", ""),
            expect: Fails { code: 1, location: "bib/refs.bib:16", ja: "BibTeX エントリ `vaswani2017attention` に title がありません", en: "BibTeX entry `vaswani2017attention` has no title", also: &[] },
        },
        // Markdown bodies.
        Case {
            name: "unbalanced brace in TeX",
            command: BUILD,
            setup: |root| edit(root, PAPER, r"\sqrt{d})", r"\sqrt{d}})"),
            expect: Fails { code: 1, location: "content/papers/01-skyformer.md:11:51", ja: "数式を KaTeX で組めません", en: "KaTeX cannot typeset this formula", also: &[] },
        },
        Case {
            name: "undefined TeX command",
            command: BUILD,
            setup: |root| edit(root, "content/groups/attention.md", r"$\mathcal{O}(N^2)$", r"$\mathcal{O}(\nope^2)$"),
            expect: Fails { code: 1, location: "content/groups/attention.md:7:19", ja: "数式を KaTeX で組めません", en: "KaTeX cannot typeset this formula", also: &["Undefined control sequence"] },
        },
        Case {
            name: "unknown shortcode",
            command: BUILD,
            setup: |root| edit(root, "content/overview.md", "{{< taxonomy >}}", "{{< taxnomy >}}"),
            expect: Fails { code: 1, location: "content/overview.md:10:1", ja: "未知のショートコード `taxnomy` です", en: "unknown shortcode `taxnomy`", also: &[] },
        },
        Case {
            name: "shortcode inside a paragraph",
            command: BUILD,
            setup: |root| edit(root, "content/overview.md", "論文を眺めます", "論文を眺めます {{< taxonomy >}}"),
            expect: Fails { code: 1, location: "content/overview.md:6:", ja: "ショートコードは前後を空行で区切った単独の段落に書いてください", en: "a shortcode must be a paragraph of its own", also: &[] },
        },
        // survey.yaml.
        Case {
            name: "unknown key in survey.yaml",
            command: BUILD,
            setup: |root| edit(root, "survey.yaml", "base_url: /", "base_url: /\nbase_ulr: /x/"),
            expect: Fails { code: 1, location: "survey.yaml:4:1", ja: "未知のフィールド `base_ulr` があります", en: "unknown field `base_ulr`", also: &["`base_url`"] },
        },
        Case {
            name: "tab in survey.yaml",
            command: BUILD,
            setup: |root| edit(root, "survey.yaml", "base_url: /", "base_url: /\n\tdescription: x"),
            expect: Fails { code: 1, location: "survey.yaml:4:1", ja: "インデントにタブ文字が使われています", en: "the indentation contains a tab character", also: &[] },
        },
        Case {
            name: "base_url that is no URL",
            command: BUILD,
            setup: |root| edit(root, "survey.yaml", "base_url: /", "base_url: /a b/"),
            expect: Fails { code: 1, location: "survey.yaml:3", ja: "base_url `/a b/` は URL としても パスとしても解釈できません", en: "base_url `/a b/` is neither a URL nor a path", also: &[] },
        },
        Case {
            name: "unknown key in the check section",
            command: CHECK,
            setup: |root| append(root, "survey.yaml", "check:\n  draft: info\n"),
            expect: Fails { code: 1, location: "survey.yaml:5:3", ja: "未知のフィールド `draft` があります", en: "unknown field `draft`", also: &["`drafts`"] },
        },
        Case {
            name: "severity no",
            command: CHECK,
            setup: |root| append(root, "survey.yaml", "check:\n  drafts: no\n"),
            expect: Fails { code: 1, location: "survey.yaml:5:11", ja: "`check.drafts` に `no` は使えません", en: "`no` is not a valid value of `check.drafts`", also: &["`off`, `info`, `warning`, `error`"] },
        },
        Case {
            name: "no survey.yaml",
            command: BUILD,
            setup: |root| fs::remove_file(root.join("survey.yaml")).unwrap(),
            // Without the file the user's locale gives the language.
            expect: Fails { code: 1, location: "survey.yaml", ja: "survey.yaml が見つかりません", en: "survey.yaml not found", also: &[] },
        },
        // Templates.
        Case {
            name: "template syntax error",
            command: BUILD,
            setup: |root| write(root, "templates/page.html", "{% extends \"base.html\" %}{% block content %}{% if %}{% endblock content %}"),
            expect: Fails { code: 1, location: "templates", ja: "テンプレート templates を描画できません", en: "cannot render the template templates", also: &[] },
        },
        // Executed code blocks.
        Case {
            name: "code block that does not compile",
            command: BUILD,
            setup: |root| add_exec_block(root, "let n: u32 = \"three\";\nprintln!(\"{n}\");"),
            expect: Fails { code: 1, location: "content/appendix.md:12", ja: "コードブロック `block-1` をコンパイルできません", en: "code block `block-1` failed to compile", also: &["--> content/appendix.md:13:", "error[E0308]"] },
        },
        Case {
            name: "code block that panics",
            command: BUILD,
            setup: |root| add_exec_block(root, "let v: Vec<u32> = Vec::new();\nprintln!(\"{}\", v[3]);"),
            expect: Fails { code: 1, location: "content/appendix.md:12", ja: "コードブロック `block-1` がパニックしました", en: "code block `block-1` panicked", also: &["index out of bounds"] },
        },
        Case {
            name: "invalid code block option",
            command: BUILD,
            setup: |root| add_exec_block(root, "//| timeout: soon\nprintln!(\"x\");"),
            expect: Fails { code: 1, location: "content/appendix.md:13", ja: "`timeout` に `soon` は使えません", en: "`soon` is not a valid value of `timeout`", also: &[] },
        },
        Case {
            name: "misspelt code block option",
            command: BUILD,
            setup: |root| add_exec_block(root, "//| timout: 5\nprintln!(\"x\");"),
            expect: Fails { code: 1, location: "content/appendix.md:13", ja: "未知のオプション `timout` です", en: "unknown option `timout`", also: &["`timeout`"] },
        },
    ]
}

/// Runs `case` with the site's `lang` set to `lang`; returns what went wrong.
fn run(case: &Case, lang: &str) -> Result<(), String> {
    let dir = copy_fixture("basic");
    let root = dir.path();
    edit(root, "survey.yaml", "lang: ja", &format!("lang: {lang}"));
    let first = survey(root, BUILD);
    if !first.status.success() {
        return Err(format!("the fixture does not build:\n{}", stderr(&first)));
    }
    let index_before = read(root.join("site/index.html"));

    (case.setup)(root);
    let locale = if lang == "ja" { "ja_JP.UTF-8" } else { "en_US.UTF-8" };
    let output = survey_command(root, case.command).env("LC_ALL", locale).output().expect("run survey");
    let messages = stderr(&output);
    let code = output.status.code();
    match &case.expect {
        Expect::Builds { page, text } => {
            if code != Some(0) {
                return Err(format!("exit {code:?}, expected 0:\n{messages}"));
            }
            let html = fs::read_to_string(root.join("site").join(page)).map_err(|error| format!("site/{page}: {error}\n{messages}"))?;
            if !html.contains(text) {
                return Err(format!("site/{page} lacks {text:?}"));
            }
        }
        Expect::Fails { code: expected, location, ja, en, also } => {
            if code != Some(*expected) {
                return Err(format!("exit {code:?}, expected {expected}:\n{messages}"));
            }
            let (label, text) = if lang == "ja" { ("エラー", ja) } else { ("error", en) };
            let headline = format!("{label}: {location}");
            let found = messages.lines().any(|line| line.starts_with(&headline) && line.contains(text));
            if !found {
                return Err(format!("no line starts with {headline:?} and contains {text:?}:\n{messages}"));
            }
            let help = if lang == "ja" { "修正方法: " } else { "help: " };
            if !messages.contains(help) {
                return Err(format!("no fix ({help:?}) given:\n{messages}"));
            }
            if let Some(missing) = also.iter().find(|piece| !messages.contains(*piece)) {
                return Err(format!("{missing:?} is missing:\n{messages}"));
            }
            if read(root.join("site/index.html")) != index_before {
                return Err("site/ changed".to_string());
            }
            let leftovers: Vec<String> = fs::read_dir(root)
                .unwrap()
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".site"))
                .collect();
            if !leftovers.is_empty() {
                return Err(format!("staging directories left: {leftovers:?}"));
            }
        }
    }
    Ok(())
}

fn run_all(lang: &str) {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| run(case, lang).err().map(|problem| format!("── {} ({lang}): {problem}", case.name)))
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn table_has_thirty_cases() {
    let cases = cases();
    assert!(cases.len() >= 30, "{}", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|case| case.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
}

#[test]
fn bad_input_in_japanese() {
    run_all("ja");
}

#[test]
fn bad_input_in_english() {
    run_all("en");
}

#[test]
fn all_errors_of_a_build_are_reported() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    edit(root, APPENDIX, "weight: 60", "wieght: 60");
    edit(root, "content/overview.md", "title: 概観", "titel: 概観");
    edit(root, "bib/refs.bib", "  booktitle = {NeurIPS 2017},\n", "  booktitle = {NeurIPS 2017,\n");
    let output = survey(root, BUILD);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{errors}");
    assert!(errors.contains("content/appendix.md:3"), "{errors}");
    assert!(errors.contains("content/overview.md:2"), "{errors}");
    assert!(errors.contains("bib/refs.bib"), "{errors}");
    assert!(errors.contains("エラー 3 件"), "{errors}");
}

#[test]
fn usage_errors_exit_with_two() {
    let dir = copy_fixture("basic");
    for args in [&["build", "--no-such-flag"][..], &["build", "--frozen", "--refresh"], &["serve", "--port", "x"], &["new", "paper"]] {
        let output = survey(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    }
}
