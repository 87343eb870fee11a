//! Module summaries in the tree form of PyTorch's `print(model)`.
//!
//! PyTorch prints a module as `Name(` followed by its `extra_repr` lines and its
//! children `(key): child`, each indented by two spaces, and a closing `)`. A module
//! with a single-line `extra_repr` and no children prints on one line:
//! `Linear(in_features=64, out_features=64, bias=True)`.

use std::fmt::{self, Write};

/// PyTorch version whose printed form to follow. The versions differ only in two leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReprStyle {
    /// torch 1.8 (the version the official code pins): `LayerNorm((64,), eps=1e-05,
    /// elementwise_affine=True)` and `GELU()`.
    #[default]
    Torch18,
    /// torch 2.x: LayerNorm adds `, bias=True` and GELU prints `approximate='none'`.
    Torch2,
}

/// A module's printed form: its class name, `extra_repr` text and named children.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRepr {
    name: String,
    extra: String,
    children: Vec<(String, ModuleRepr)>,
}

impl ModuleRepr {
    pub fn leaf(name: impl Into<String>, extra: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            extra: extra.into(),
            children: Vec::new(),
        }
    }

    pub fn node(name: impl Into<String>, children: Vec<(String, ModuleRepr)>) -> Self {
        Self {
            name: name.into(),
            extra: String::new(),
            children,
        }
    }

    /// Renders the tree exactly as `torch.nn.Module.__repr__` does.
    pub fn render(&self) -> String {
        let extra_lines: Vec<&str> = if self.extra.is_empty() {
            Vec::new()
        } else {
            self.extra.split('\n').collect()
        };
        let child_lines: Vec<String> = self
            .children
            .iter()
            .map(|(key, child)| format!("({key}): {}", indent_after_first_line(&child.render(), 2)))
            .collect();

        let mut out = format!("{}(", self.name);
        if extra_lines.len() == 1 && child_lines.is_empty() {
            out.push_str(extra_lines[0]);
        } else if !extra_lines.is_empty() || !child_lines.is_empty() {
            let lines: Vec<String> = extra_lines
                .iter()
                .map(|s| s.to_string())
                .chain(child_lines)
                .collect();
            out.push_str("\n  ");
            out.push_str(&lines.join("\n  "));
            out.push('\n');
        }
        out.push(')');
        out
    }
}

impl fmt::Display for ModuleRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// PyTorch's `_addindent`: indents every line but the first.
fn indent_after_first_line(text: &str, spaces: usize) -> String {
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        out.push('\n');
        for _ in 0..spaces {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Formats a float as Python's `repr` does: shortest round-trip digits, a trailing
/// `.0` for integral values, and exponent form (`1e-05`) below 1e-4 or from 1e16.
pub fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let formatted = format!("{x:e}");
        let (mantissa, exponent) = formatted.split_once('e').expect("exponent form has an 'e'");
        let exponent: i32 = exponent.parse().expect("exponent is an integer");
        let sign = if exponent < 0 { '-' } else { '+' };
        let mut out = String::new();
        write!(out, "{mantissa}e{sign}{:02}", exponent.abs()).expect("writing to a String");
        return out;
    }
    let formatted = format!("{x}");
    if formatted.contains('.') {
        formatted
    } else {
        format!("{formatted}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_matches_repr() {
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(0.0), "0.0");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(1e-12), "1e-12");
        assert_eq!(python_float(2.5e-4), "0.00025");
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(1e16), "1e+16");
    }

    #[test]
    fn leaf_with_extra_prints_on_one_line() {
        let leaf = ModuleRepr::leaf("Dropout", "p=0.1, inplace=False");
        assert_eq!(leaf.render(), "Dropout(p=0.1, inplace=False)");
        assert_eq!(ModuleRepr::leaf("Skyformer", "").render(), "Skyformer()");
    }

    #[test]
    fn nested_children_are_indented() {
        let tree = ModuleRepr::node(
            "Outer",
            vec![(
                "inner".into(),
                ModuleRepr::node("Inner", vec![("0".into(), ModuleRepr::leaf("ReLU", ""))]),
            )],
        );
        assert_eq!(
            tree.render(),
            "Outer(\n  (inner): Inner(\n    (0): ReLU()\n  )\n)"
        );
    }
}
