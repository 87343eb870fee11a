//! Printed module trees and parameter lists against those of the official PyTorch model.

mod common;

use candle_core::{DType, Device, Result};
use candle_nn::VarBuilder;
use common::fixture_path;
use seqmodels::{ModelForSC, ModelForSCDual, ReprStyle, Task, TaskConfig};

/// One model of the summaries file: its tree (torch 2.x style), parameters and totals.
struct Section {
    task: String,
    attn: String,
    class: String,
    tree: String,
    params: Vec<(String, Vec<usize>, usize)>,
    total_main: usize,
    total_bare: usize,
}

fn parse_sections() -> Vec<Section> {
    let text = std::fs::read_to_string(fixture_path("model_summaries.txt")).unwrap();
    let mut sections = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(header) = line.strip_prefix("task=") else {
            continue;
        };
        let field = |name: &str| {
            header
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_string()
        };
        let (task, attn, class) = (
            header.split_whitespace().next().unwrap().to_string(),
            field("attn"),
            field("class"),
        );
        lines.next(); // the ==== rule
        let mut tree = Vec::new();
        for line in lines.by_ref() {
            if line.starts_with("-----") {
                break;
            }
            tree.push(line);
        }
        let mut params = Vec::new();
        let (mut total_main, mut total_bare) = (0, 0);
        for line in lines.by_ref() {
            if let Some(rest) = line.strip_prefix("TOTAL parameters (main.py config") {
                total_main = rest.rsplit(' ').next().unwrap().parse().unwrap();
            } else if let Some(rest) = line.strip_prefix("TOTAL parameters (bare snippet") {
                total_bare = rest.rsplit(' ').next().unwrap().parse().unwrap();
                break;
            } else {
                let (name, rest) = line.trim().split_once(' ').unwrap();
                let (shape, count) = rest.trim().rsplit_once(')').unwrap();
                let shape: Vec<usize> = shape
                    .trim_start_matches('(')
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse().unwrap())
                    .collect();
                params.push((name.to_string(), shape, count.trim().parse().unwrap()));
            }
        }
        sections.push(Section {
            task,
            attn,
            class,
            tree: tree.join("\n"),
            params,
            total_main,
            total_bare,
        });
    }
    sections
}

enum Built {
    Single(ModelForSC),
    Dual(ModelForSCDual),
}

impl Built {
    fn new(config: &seqmodels::Config, dual: bool) -> Result<Self> {
        let vb = VarBuilder::zeros(DType::F32, &Device::Cpu);
        Ok(if dual {
            Built::Dual(ModelForSCDual::new(config, vb)?)
        } else {
            Built::Single(ModelForSC::new(config, vb)?)
        })
    }

    fn summary(&self, style: ReprStyle) -> String {
        match self {
            Built::Single(m) => m.summary(style),
            Built::Dual(m) => m.summary(style),
        }
    }

    fn params(&self) -> Vec<(String, Vec<usize>, usize)> {
        let named = match self {
            Built::Single(m) => m.named_parameters(),
            Built::Dual(m) => m.named_parameters(),
        };
        named
            .into_iter()
            .map(|(name, t)| (name, t.dims().to_vec(), t.elem_count()))
            .collect()
    }
}

#[test]
fn summaries_match_official_trees() -> Result<()> {
    let sections = parse_sections();
    assert_eq!(sections.len(), 5, "the summaries file lists five models");
    for section in &sections {
        let preset = TaskConfig::from_name(&section.task).unwrap();
        let dual = preset.task.is_dual();
        assert_eq!(
            section.class,
            if dual { "ModelForSCDual" } else { "ModelForSC" }
        );

        let model = Built::new(&preset.model_config(&section.attn), dual)?;
        let what = format!("{} {}", section.task, section.attn);
        assert_eq!(
            model.summary(ReprStyle::Torch2),
            section.tree,
            "{what}: printed tree"
        );
        assert_eq!(model.params(), section.params, "{what}: named parameters");
        let total: usize = model.params().iter().map(|p| p.2).sum();
        assert_eq!(total, section.total_main, "{what}: parameter count");

        // The snippet form: no power-of-two rounding (Skyformer still needs its extras).
        let bare = if section.attn == "skyformer" {
            preset.model_config_unrounded(&section.attn)
        } else {
            preset.snippet_config(&section.attn)
        };
        let bare: usize = Built::new(&bare, dual)?.params().iter().map(|p| p.2).sum();
        assert_eq!(
            bare, section.total_bare,
            "{what}: unrounded parameter count"
        );
    }
    Ok(())
}

#[test]
fn parameter_counts_of_presets() -> Result<()> {
    for (task, expected) in [
        (Task::ListOps, 209_802),
        (Task::Text, 370_562),
        (Task::Retrieval, 395_138),
    ] {
        let config = TaskConfig::preset(task).model_config("skyformer");
        let count: usize = Built::new(&config, task.is_dual())?
            .params()
            .iter()
            .map(|p| p.2)
            .sum();
        assert_eq!(count, expected, "{task}");
    }
    Ok(())
}

#[test]
fn draft_snippet_prints_in_torch18_style() -> Result<()> {
    let config = TaskConfig::preset(Task::Text).snippet_config("softmax");
    let model = ModelForSC::new(&config, VarBuilder::zeros(DType::F32, &Device::Cpu))?;
    assert_eq!(model.num_parameters(), 364_418);

    let printed = model.to_string();
    let printed: Vec<&str> = printed.lines().collect();
    let draft = std::fs::read_to_string(fixture_path("draft_summary_lines.txt")).unwrap();
    let draft: Vec<&str> = draft.lines().collect();

    // Every line the draft shows appears verbatim and in order. The draft leaves out the
    // `    )` that closes `(embeddings)`, which PyTorch prints after the dropout line.
    let mut position = 0;
    for line in &draft {
        let found = printed[position..].iter().position(|p| p == line);
        let offset = found.unwrap_or_else(|| panic!("draft line {line:?} not printed in order"));
        let skipped = &printed[position..position + offset];
        assert!(
            skipped.iter().all(|s| s.trim() == ")"),
            "unexpected lines before {line:?}: {skipped:?}"
        );
        position += offset + 1;
    }
    assert_eq!(printed[6], "    )");

    // The rest of the tree follows in the same (torch 1.8) style.
    assert!(printed.contains(&"        (1): GELU()"));
    assert!(printed.contains(&"    (norm): LayerNorm((64,), eps=1e-05, elementwise_affine=True)"));
    assert!(printed.contains(&"      (2): Linear(in_features=128, out_features=2, bias=True)"));
    assert!(
        !printed
            .iter()
            .any(|line| line.contains("bias=True)") && line.contains("LayerNorm"))
    );
    assert_eq!(printed.last(), Some(&")"));
    Ok(())
}

#[test]
fn snippet_with_skyformer_reports_missing_accumulation() {
    let config = TaskConfig::preset(Task::Text).snippet_config("skyformer");
    let err = ModelForSC::new(&config, VarBuilder::zeros(DType::F32, &Device::Cpu))
        .unwrap_err()
        .to_string();
    assert!(err.contains("accumulation"), "{err}");
}

#[test]
fn nystrom_and_kernelized_trees_name_their_kernels() -> Result<()> {
    let preset = TaskConfig::preset(Task::ListOps);
    let nystrom = ModelForSC::new(
        &preset.model_config("nystrom"),
        VarBuilder::zeros(DType::F32, &Device::Cpu),
    )?;
    assert!(
        nystrom
            .to_string()
            .contains("(attn): NystromAttention(num_landmarks=128, seq_len=2048)")
    );
    let kernelized = ModelForSC::new(
        &preset.model_config("kernelized"),
        VarBuilder::zeros(DType::F32, &Device::Cpu),
    )?;
    assert!(kernelized.to_string().contains("(attn): SoftmaxAttention_RBF(\n          (drop_attn): Dropout(p=0.1, inplace=False)\n        )"));
    Ok(())
}
