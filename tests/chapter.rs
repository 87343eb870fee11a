//! The survey's executed Skyformer chapter, built from the committed
//! `_freeze/` as CI builds it. The Appendix prints the draft's model
//! summary and runs LRA ListOps with softmax attention and Skyformer. The
//! Skyformer section measures the approximation error in spectral norm and
//! the cost of a forward pass against the sequence length. The tests read the
//! numbers the executed blocks wrote into the pages and check the claims
//! of the prose around them.

mod common;

use std::path::{Path, PathBuf};

use common::{read, repo_root};
use scraper::{ElementRef, Html, Selector};
use survey::exec::FreezeMode;
use survey::site::{BuildOptions, build};

fn build_survey() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    let options = BuildOptions {
        output_dir: Some(out.clone()),
        exec: FreezeMode::Frozen,
        progress: false,
        ..BuildOptions::new(repo_root())
    };
    if let Err(diagnostics) = build(&options) {
        let messages: Vec<String> = diagnostics.iter().map(|d| format!("{} {:?}", d.location(), d.message)).collect();
        panic!("the survey must build from its freeze: {messages:#?}");
    }
    (dir, out)
}

fn select(selector: &str) -> Selector {
    Selector::parse(selector).unwrap()
}

/// Finds the executed block `label`, which must have run without failing.
fn block<'a>(page: &'a Html, label: &str) -> ElementRef<'a> {
    let block = page
        .select(&select(&format!("div.exec-block#{label}")))
        .next()
        .unwrap_or_else(|| panic!("no executed block `{label}`"));
    assert!(
        block.select(&select(".exec-error, .exec-missing")).next().is_none(),
        "block `{label}` failed or has no output"
    );
    block
}

/// Text of the elements matching `selector` inside the executed block `label`.
fn block_texts(page: &Html, label: &str, selector: &str) -> Vec<String> {
    block(page, label).select(&select(selector)).map(|e| e.text().collect::<String>()).collect()
}

/// Rows of the tables of an `output: asis` block, as cell texts.
fn table_rows(page: &Html, label: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = block(page, label)
        .select(&select(".exec-asis table tbody tr"))
        .map(|row| row.select(&select("td")).map(|cell| cell.text().collect::<String>().trim().to_string()).collect())
        .collect();
    assert!(!rows.is_empty(), "block `{label}` printed no table");
    rows
}

/// Parses the first number in `text`, ignoring thousands separators.
fn number(text: &str) -> f64 {
    let start = text.find(|c: char| c.is_ascii_digit()).unwrap_or_else(|| panic!("no number in {text:?}"));
    let digits: String = text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').filter(|c| *c != ',').collect();
    digits.trim_end_matches('.').parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Numbers that follow `marker` in `text`, in order.
fn numbers_after(text: &str, marker: &str) -> Vec<f64> {
    text.match_indices(marker).map(|(at, _)| number(&text[at + marker.len()..])).collect()
}

/// Reads the SVG files of the figure of block `label` from the built site
/// in `out`, which is served at `/`.
fn figure_svgs(page: &Html, out: &Path, label: &str) -> Vec<String> {
    let block = block(page, label);
    let images: Vec<_> = block.select(&select("figure.exec-figure img")).collect();
    assert!(!images.is_empty(), "block `{label}` drew no figure");
    let caption: String = block.select(&select("figure figcaption")).flat_map(|c| c.text()).collect();
    assert!(!caption.trim().is_empty(), "block `{label}`: the figure needs a caption");
    images
        .iter()
        .map(|image| {
            let alt = image.value().attr("alt").unwrap_or("");
            assert_eq!(alt, caption.trim(), "block `{label}`: the alt text is the caption");
            let src = image.value().attr("src").unwrap();
            assert!(src.ends_with(".svg"), "{src}");
            assert!(src.starts_with('/'), "figure URLs are root-relative: {src}");
            let svg = read(out.join(src.trim_start_matches('/')));
            assert!(svg.starts_with("<svg"), "{src} is not an SVG document");
            assert!(svg.trim_end().ends_with("</svg>"), "{src} is cut short");
            assert!(svg.contains("prefers-color-scheme: dark"), "{src} has no dark colours");
            svg
        })
        .collect()
}

#[test]
fn appendix_prints_the_drafts_model_summary() {
    let (_dir, out) = build_survey();
    let page = Html::parse_document(&read(out.join("appendix/index.html")));
    let printed = block_texts(&page, "model-summary", "pre.exec-stdout").concat();
    // The lines the draft shows (its PDF extraction lost the `)` that closes
    // the embeddings), which the executed output must contain in order.
    let draft = [
        "ModelForSC(",
        "  (model): Model(",
        "    (embeddings): Embeddings(",
        "      (word_embeddings): Embedding(512, 64)",
        "      (position_embeddings): Embedding(4000, 64)",
        "      (dropout): Dropout(p=0.1, inplace=False)",
        "    (transformer_0): TransformerLayer(",
        "      (norm1): LayerNorm((64,), eps=1e-05, elementwise_affine=True)",
        "      (mha): Attention(",
        "        (W_q): Linear(in_features=64, out_features=64, bias=True)",
        "        (W_k): Linear(in_features=64, out_features=64, bias=True)",
        "        (W_v): Linear(in_features=64, out_features=64, bias=True)",
        "        (attn): SoftmaxAttention(",
        "          (drop_attn): Dropout(p=0.1, inplace=False)",
    ];
    let lines: Vec<&str> = printed.lines().collect();
    let mut at = 0;
    for expected in draft {
        let found = lines[at..].iter().position(|line| *line == expected);
        at += found.unwrap_or_else(|| panic!("the summary lacks the draft's line {expected:?}:\n{printed}")) + 1;
    }
    assert_eq!(lines[0], "ModelForSC(");

    // The whole tree and the count are what seqmodels prints today.
    let config = seqmodels::TaskConfig::preset(seqmodels::Task::Text).snippet_config("softmax");
    let model = seqmodels::ModelForSC::new(
        &config,
        candle_nn::VarBuilder::zeros(candle_core::DType::F32, &candle_core::Device::Cpu),
    )
    .unwrap();
    let expected = format!("{model}\nパラメータ数: {}\n", model.num_parameters());
    assert_eq!(printed, expected);
    assert!(lines.contains(&"    (transformer_1): TransformerLayer("), "the tree is printed to its end");
}

#[test]
fn appendix_trains_listops_with_both_attentions() {
    let (_dir, out) = build_survey();
    let page_dir = out.join("appendix");
    let page = Html::parse_document(&read(page_dir.join("index.html")));

    // The settings table sets the reduced run next to the paper's.
    let settings = table_rows(&page, "listops-setup");
    let row = |name: &str| settings.iter().find(|r| r[0].starts_with(name)).unwrap_or_else(|| panic!("no row {name}: {settings:?}")).clone();
    let examples = row("学習 / 検証 / テスト用の例");
    assert_eq!(examples[2], "96,000 / 2,000 / 2,000");
    let steps = row("学習ステップ数");
    assert_eq!(steps[2], "50,000");
    let lengths = row("系列長");
    assert_eq!(lengths[2], "2,048");
    assert!(number(&steps[1]) < 50_000.0, "{steps:?}");
    assert!(number(&lengths[1]) <= 2048.0, "{lengths:?}");
    assert!(row("計算機")[1].contains("threads"), "the machine is named: {:?}", row("計算機"));

    // The log shows both runs evaluating on dev.
    let log = block_texts(&page, "listops-train", "pre.exec-stdout").concat();
    for attn in ["== softmax", "== skyformer"] {
        assert!(log.contains(attn), "{log}");
    }
    assert!(log.matches("dev accuracy").count() >= 4, "{log}");

    // The results table: one row per attention, accuracies in percent.
    let results = table_rows(&page, "listops-table");
    let attentions: Vec<&str> = results.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(attentions, ["softmax", "skyformer"]);
    for row in &results {
        assert_eq!(number(&row[1]), number(&steps[1]), "steps of {row:?}");
        assert_eq!(number(&row[2]), number(&lengths[1]), "sequence length of {row:?}");
        for cell in [&row[3], &row[4]] {
            let accuracy = number(cell);
            assert!(cell.ends_with('%'), "{row:?}");
            assert!((0.0..=100.0).contains(&accuracy), "{row:?}");
        }
        assert!(number(&row[5]) > 0.0, "seconds per step of {row:?}");
        assert!(row[6].ends_with("MiB"), "peak memory of {row:?}");
    }

    // The learning curve is drawn with its Japanese axis labels.
    let svg = figure_svgs(&page, &out, "listops-curve").concat();
    for label in ["学習時間（秒）", "検証の正解率（%）", "softmax", "skyformer"] {
        assert!(svg.contains(label), "the learning curve lacks {label}");
    }

    // The summary quotes the paper and states the time the page took, which
    // must be within the budget the page promises.
    let summary = block_texts(&page, "listops-summary", ".exec-asis").concat();
    assert!(summary.contains("38.37"), "{summary}");
    assert!(summary.contains("38.69"), "{summary}");
    let minutes = numbers_after(&summary, "全体で ");
    let seconds = numbers_after(&summary, " 分 ");
    assert!(!minutes.is_empty(), "{summary}");
    assert!(!seconds.is_empty(), "{summary}");
    let budget = numbers_after(&summary, "ページ全体が ");
    assert_eq!(budget, [15.0], "{summary}");
    assert!(minutes[0] * 60.0 + seconds[0] <= 15.0 * 60.0, "the page ran longer than its budget: {summary}");
}

#[test]
fn skyformer_section_measures_error_and_cost() {
    let (_dir, out) = build_survey();
    let page_dir = out.join("papers/03-skyformer");
    let page = Html::parse_document(&read(page_dir.join("index.html")));

    // Spectral-norm errors for every length and landmark count; the relative
    // error falls as landmarks are added, for both methods.
    let errors = table_rows(&page, "approx-error");
    assert_eq!(errors.len(), 3 * 5, "{errors:?}");
    for n in ["512", "1024", "2048"] {
        let rows: Vec<&Vec<String>> = errors.iter().filter(|r| r[0] == n).collect();
        let landmarks: Vec<f64> = rows.iter().map(|r| number(&r[1])).collect();
        assert_eq!(landmarks, [16.0, 32.0, 64.0, 128.0, 256.0]);
        for column in [3, 5] {
            let first = number(&rows[0][column]);
            let last = number(&rows[4][column]);
            assert!(last < first, "N = {n}, column {column}: {first} → {last}");
        }
        for row in &rows {
            // ‖Ã − A‖₂ and the relative error are both positive.
            assert!(number(&row[2]) > 0.0, "{row:?}");
            assert!(number(&row[3]) > 0.0, "{row:?}");
        }
    }
    let svg = figure_svgs(&page, &out, "approx-figure").concat();
    assert!(svg.contains("ランドマーク数"));
    assert!(svg.contains("Nyströmformer N=2048"));
    let summary = block_texts(&page, "approx-summary", ".exec-asis").concat();
    assert!(summary.contains("Skyformer"), "{summary}");
    assert!(summary.contains("Nyströmformer"), "{summary}");

    // Forward time and memory for N = 256 … 8192, with fitted slopes:
    // quadratic for softmax, about linear for Skyformer.
    let costs = table_rows(&page, "forward-cost");
    let lengths: Vec<f64> = costs.iter().map(|r| number(&r[0])).collect();
    assert_eq!(lengths, [256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0]);
    let slopes_text = block_texts(&page, "forward-cost", ".exec-asis p").concat();
    let slopes: Vec<f64> = numbers_after(&slopes_text, "ソフトマックス ")
        .into_iter()
        .zip(numbers_after(&slopes_text, "Skyformer "))
        .flat_map(|(a, b)| [a, b])
        .collect();
    assert_eq!(slopes.len(), 4, "time and memory slopes of both: {slopes_text}");
    let (softmax_time, skyformer_time, softmax_memory, skyformer_memory) = (slopes[0], slopes[1], slopes[2], slopes[3]);
    assert!(softmax_time > 1.5, "{slopes_text}");
    assert!(skyformer_time < 1.3, "{slopes_text}");
    assert!(softmax_memory > 1.5, "{slopes_text}");
    assert!(skyformer_memory < 1.3, "{slopes_text}");
    let longest = costs.last().unwrap();
    assert!(number(&longest[1]) > number(&longest[2]), "Skyformer is faster at N = 8192: {longest:?}");
    let figures = figure_svgs(&page, &out, "forward-cost-figure");
    assert_eq!(figures.len(), 2, "a time and a memory figure");
    assert!(figures[0].contains("時間（秒）"), "the time figure comes first");
    assert!(figures[1].contains("ピークメモリ（MiB）"));
}
