//! `survey new paper KEY` with the real binary on copies of the fixture site.

mod common;

use common::{copy_fixture, read, stderr, survey};

#[test]
fn new_paper_writes_template_and_stub() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    let output = survey(root, &["new", "paper", "gu2021lssl"]);
    let messages = stderr(&output);
    assert!(output.status.success(), "{messages}");
    assert!(messages.contains("content/papers/03-gu2021lssl.md を作成しました"), "{messages}");
    assert!(messages.contains("bib/gu2021lssl.bib に BibTeX エントリの雛形を書きました"), "{messages}");

    let paper = read(root.join("content/papers/03-gu2021lssl.md"));
    assert!(paper.starts_with("---\nkey: gu2021lssl\n"), "{paper}");
    assert!(paper.contains("\nstatus: draft\n---\n"), "{paper}");
    assert!(paper.contains("# title: "), "{paper}");
    assert!(paper.contains("#   - node: \n#     summary: "), "{paper}");
    // Every node id is listed with its label.
    for (id, label) in [
        ("transformer", "トランスフォーマーを工夫する"),
        ("transformer.attention", "セルフアテンションの計算量に対処する"),
        ("transformer.attention.low-rank", "$QK^\\top$ を低ランク近似する"),
    ] {
        let line = paper.lines().find(|line| line.starts_with(&format!("#   {id} "))).unwrap_or_else(|| panic!("{id} missing:\n{paper}"));
        assert!(line.ends_with(label), "{line}");
    }
    let stub = read(root.join("bib/gu2021lssl.bib"));
    assert!(stub.contains("@inproceedings{gu2021lssl,"), "{stub}");

    let build = survey(root, &["build"]);
    assert!(build.status.success(), "{}", stderr(&build));
    let html = read(root.join("site/papers/03-gu2021lssl/index.html"));
    assert!(html.contains("執筆中"), "{html}");
}

#[test]
fn new_paper_keeps_number_width() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    let papers = root.join("content/papers");
    std::fs::rename(papers.join("02-primer.md"), papers.join("009-primer.md")).unwrap();
    let output = survey(root, &["new", "paper", "vaswani2017attention"]);
    let messages = stderr(&output);
    assert!(output.status.success(), "{messages}");
    assert!(root.join("content/papers/010-vaswani2017attention.md").is_file(), "{messages}");
    assert!(messages.contains("文献 `vaswani2017attention` は bib/refs.bib にあります"), "{messages}");
    assert!(!root.join("bib/vaswani2017attention.bib").exists());
}

#[test]
fn new_paper_rejects_existing_key() {
    let dir = copy_fixture("basic");
    let before: Vec<_> = std::fs::read_dir(dir.path().join("content/papers")).unwrap().collect();
    let output = survey(dir.path(), &["new", "paper", "so2021primer"]);
    let messages = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{messages}");
    assert!(messages.contains("content/papers/02-primer.md:2: キー `so2021primer` の論文はすでにこのファイルにあります"), "{messages}");
    let after: Vec<_> = std::fs::read_dir(dir.path().join("content/papers")).unwrap().collect();
    assert_eq!(before.len(), after.len());
}

#[test]
fn new_paper_never_overwrites() {
    let dir = copy_fixture("basic");
    let root = dir.path();
    // A file with the stub's name that does not define the key.
    std::fs::write(root.join("bib/newkey.bib"), "% notes\n").unwrap();
    let output = survey(root, &["new", "paper", "newkey"]);
    let messages = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{messages}");
    assert!(messages.contains("bib/newkey.bib はすでにあるので、上書きしません"), "{messages}");
    assert_eq!(read(root.join("bib/newkey.bib")), "% notes\n");
    assert!(!root.join("content/papers/03-newkey.md").exists(), "no half-made paper");
}

#[test]
fn new_paper_rejects_invalid_keys() {
    let dir = copy_fixture("basic");
    for key in ["../escape", "with space", "-dash", "a:b"] {
        let output = survey(dir.path(), &["new", "paper", "--", key]);
        let messages = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{key}: {messages}");
        assert!(messages.contains(&format!("`{key}` は論文のキーに使えません")), "{messages}");
    }
    let papers = std::fs::read_dir(dir.path().join("content/papers")).unwrap().count();
    assert_eq!(papers, 3);
}

#[test]
fn new_paper_comments_in_english() {
    let dir = copy_fixture("basic");
    let config = dir.path().join("survey.yaml");
    std::fs::write(&config, read(&config).replace("lang: ja", "lang: en")).unwrap();
    let output = survey(dir.path(), &["new", "paper", "gu2021lssl"]);
    let messages = stderr(&output);
    assert!(messages.contains("created content/papers/03-gu2021lssl.md"), "{messages}");
    let paper = read(dir.path().join("content/papers/03-gu2021lssl.md"));
    assert!(paper.contains("# Section headline"), "{paper}");
    assert!(paper.contains("Write the section here."), "{paper}");
}
