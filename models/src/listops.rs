//! LRA ListOps: the generator, the evaluator, Skyformer's tokenisation and the LRA
//! release's TSV files.
//!
//! The generator follows `lra_benchmarks/data/listops.py` of
//! github.com/google-research/long-range-arena: random expression trees over MIN, MAX,
//! MED (integer part of the median) and SM (sum mod 10) on the digits 0–9, kept when
//! their length is strictly between the limits, without duplicates. The random
//! numbers come from a seeded Rust generator, so the dataset is reproducible from its
//! seed but differs from the released files.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::EncodedExample;
use crate::error::{Error, Result};

/// A ListOps operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Min,
    Max,
    /// Median, truncated to an integer (the mean of the two middle values for an even count).
    Med,
    /// Sum modulo 10.
    SumMod,
}

impl Operator {
    /// The four operators the LRA generator draws from (FIRST and LAST are disabled there).
    pub const ALL: [Operator; 4] = [
        Operator::Min,
        Operator::Max,
        Operator::Med,
        Operator::SumMod,
    ];

    /// Returns the opening symbol in the LRA string form, such as `[MIN`.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Min => "[MIN",
            Operator::Max => "[MAX",
            Operator::Med => "[MED",
            Operator::SumMod => "[SM",
        }
    }

    fn from_symbol(symbol: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.symbol() == symbol)
    }

    /// Applies the operator to its argument values.
    pub fn apply(self, args: &[u8]) -> u8 {
        match self {
            Operator::Min => *args
                .iter()
                .min()
                .expect("operators have at least two arguments"),
            Operator::Max => *args
                .iter()
                .max()
                .expect("operators have at least two arguments"),
            Operator::Med => {
                let mut sorted = args.to_vec();
                sorted.sort_unstable();
                let mid = sorted.len() / 2;
                if sorted.len() % 2 == 1 {
                    sorted[mid]
                } else {
                    // numpy's median averages the middle pair; int() truncates the .5.
                    ((sorted[mid - 1] as u32 + sorted[mid] as u32) / 2) as u8
                }
            }
            Operator::SumMod => (args.iter().map(|&v| v as u32).sum::<u32>() % 10) as u8,
        }
    }
}

/// A ListOps expression tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tree {
    Value(u8),
    Op(Operator, Vec<Tree>),
}

impl Tree {
    /// Evaluates the expression to its value 0–9, the task's label.
    pub fn evaluate(&self) -> u8 {
        match self {
            Tree::Value(v) => *v,
            Tree::Op(op, args) => op.apply(&args.iter().map(Tree::evaluate).collect::<Vec<_>>()),
        }
    }

    /// Returns the LRA length: operator, value and END symbols (a value counts 1, an operator
    /// node 2 plus its arguments); parentheses do not count.
    pub fn length(&self) -> usize {
        match self {
            Tree::Value(_) => 1,
            Tree::Op(_, args) => 2 + args.iter().map(Tree::length).sum::<usize>(),
        }
    }

    /// Prints the LRA string form: an operator node with arguments v₁ … v_k is the nested pair
    /// (((…((OP, v₁), v₂)…), v_k), END) and each pair prints as `( A B )`, so MIN(9, 9)
    /// is `( ( ( [MIN 9 ) 9 ) ] )`.
    pub fn to_lra_string(&self) -> String {
        let mut out = String::new();
        self.write_lra(&mut out);
        out
    }

    fn write_lra(&self, out: &mut String) {
        match self {
            Tree::Value(v) => write!(out, "{v}").expect("writing to a String"),
            Tree::Op(op, args) => {
                // One "( " per pair: k argument pairs plus the END pair.
                for _ in 0..=args.len() {
                    out.push_str("( ");
                }
                out.push_str(op.symbol());
                for arg in args {
                    out.push(' ');
                    arg.write_lra(out);
                    out.push_str(" )");
                }
                out.push_str(" ] )");
            }
        }
    }
}

/// Evaluates an expression given in the LRA string form, independently of [`Tree`]:
/// a stack machine over the symbols `[OP`, digits and `]` (parentheses are ignored).
pub fn evaluate_source(source: &str) -> std::result::Result<u8, String> {
    let mut stack: Vec<(Operator, Vec<u8>)> = Vec::new();
    let mut result = None;
    for token in source.split_whitespace() {
        if token == "(" || token == ")" {
            continue;
        }
        if result.is_some() {
            return Err(format!(
                "unexpected {token:?} after the complete expression"
            ));
        }
        let value = match token {
            "]" => {
                let (op, args) = stack.pop().ok_or("\"]\" without an open operator")?;
                if args.is_empty() {
                    return Err(format!("{} has no arguments", op.symbol()));
                }
                op.apply(&args)
            }
            _ => {
                if let Some(op) = Operator::from_symbol(token) {
                    stack.push((op, Vec::new()));
                    continue;
                }
                match token.parse::<u8>() {
                    Ok(v) if v <= 9 => v,
                    _ => return Err(format!("unknown symbol {token:?}")),
                }
            }
        };
        match stack.last_mut() {
            Some((_, args)) => args.push(value),
            None => result = Some(value),
        }
    }
    if let Some((op, _)) = stack.last() {
        return Err(format!("{} is not closed with \"]\"", op.symbol()));
    }
    result.ok_or_else(|| "empty expression".to_string())
}

/// Parameters of the LRA ListOps generator. [`GeneratorConfig::lra`] gives the
/// released dataset's values.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Nodes at this depth (the root has depth 1) are always values.
    pub max_depth: usize,
    /// An operator takes 2 to `max_args` arguments, uniformly.
    pub max_args: usize,
    /// LRA's `VALUE_P`: a node above `max_depth` becomes a value when a uniform draw
    /// exceeds it, so operators have this probability.
    pub operator_probability: f64,
    /// Trees are kept when `min_length < length < max_length`.
    pub min_length: usize,
    pub max_length: usize,
    pub num_train: usize,
    pub num_dev: usize,
    pub num_test: usize,
}

impl GeneratorConfig {
    /// Returns the settings of the released LRA ListOps data: depth 10, up to 10 arguments,
    /// lengths strictly between 500 and 2000, 96 000 / 2 000 / 2 000 examples.
    pub fn lra() -> Self {
        Self {
            max_depth: 10,
            max_args: 10,
            operator_probability: 0.25,
            min_length: 500,
            max_length: 2000,
            num_train: 96_000,
            num_dev: 2_000,
            num_test: 2_000,
        }
    }

    fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::InvalidArgument(msg));
        if self.max_args < 2 {
            return fail(format!(
                "max_args must be at least 2, got {}",
                self.max_args
            ));
        }
        if self.max_depth < 1 {
            return fail("max_depth must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.operator_probability) {
            return fail(format!(
                "operator_probability must be in [0, 1], got {}",
                self.operator_probability
            ));
        }
        if self.min_length + 1 >= self.max_length {
            return fail(format!(
                "no length fits strictly between min_length {} and max_length {}",
                self.min_length, self.max_length
            ));
        }
        Ok(())
    }
}

/// One example: the expression in LRA string form and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub source: String,
    pub label: u8,
}

/// Train, dev and test examples.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    pub train: Vec<Example>,
    pub dev: Vec<Example>,
    pub test: Vec<Example>,
}

/// Draws trees until `num_train + num_dev + num_test` distinct ones of acceptable length
/// exist, then splits them in the order they were first drawn (LRA splits in the
/// iteration order of a Python set, which depends on hashing).
///
/// Trees that grow past `max_length` are abandoned as soon as they do: such trees would be
/// rejected anyway, so the accepted trees have the LRA distribution.
pub fn generate(config: &GeneratorConfig, seed: u64) -> Result<Splits> {
    config.validate()?;
    let total = config.num_train + config.num_dev + config.num_test;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = HashSet::with_capacity(total);
    let mut examples = Vec::with_capacity(total);
    // A guard against limits that (almost) never accept a tree.
    let max_draws = 10_000 * (total as u64 + 100);
    let mut draws = 0u64;
    while examples.len() < total {
        draws += 1;
        if draws > max_draws {
            return Err(Error::InvalidArgument(format!(
                "ListOps generation accepted only {} of {total} trees in {max_draws} draws; \
                 widen min_length/max_length or change max_depth/max_args",
                examples.len()
            )));
        }
        let mut budget = config.max_length;
        let Some(tree) = generate_tree(1, config, &mut rng, &mut budget) else {
            continue;
        };
        let length = tree.length();
        if length <= config.min_length || length >= config.max_length {
            continue;
        }
        let source = tree.to_lra_string();
        if seen.insert(source.clone()) {
            examples.push(Example {
                label: tree.evaluate(),
                source,
            });
        }
    }
    let test = examples.split_off(config.num_train + config.num_dev);
    let dev = examples.split_off(config.num_train);
    Ok(Splits {
        train: examples,
        dev,
        test,
    })
}

/// Generates one tree in the LRA generator's order of random draws (node type, then value
/// or argument count, the arguments, and last the operator). Returns `None` once the
/// length reaches `budget`.
fn generate_tree(
    depth: usize,
    config: &GeneratorConfig,
    rng: &mut StdRng,
    budget: &mut usize,
) -> Option<Tree> {
    let r = if depth < config.max_depth {
        rng.random::<f64>()
    } else {
        1.0
    };
    if r > config.operator_probability {
        *budget = budget.checked_sub(1).filter(|b| *b > 0)?;
        return Some(Tree::Value(rng.random_range(0..10)));
    }
    *budget = budget.checked_sub(2).filter(|b| *b > 0)?;
    let count = rng.random_range(2..=config.max_args);
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        args.push(generate_tree(depth + 1, config, rng, budget)?);
    }
    let op = Operator::ALL[rng.random_range(0..Operator::ALL.len())];
    Some(Tree::Op(op, args))
}

/// Skyformer's ListOps vocabulary in id order: ids 1 to 14. Id 0 is padding.
///
/// Skyformer's preprocessing builds its vocabulary with TFDS's alphanumeric tokenizer,
/// which drops brackets and parentheses, and numbers the 14 strings in the iteration
/// order of a Python set, which depends on the string-hash seed. This crate fixes the
/// order below; any order gives an equivalent model.
pub const VOCABULARY: [&str; 14] = [
    "MIN", "MAX", "MED", "SM", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
];

/// Id of padding positions.
pub const PAD_ID: u32 = 0;

/// Skyformer's sequence length for ListOps: at most 2000 tokens, padded to 2000, plus 48
/// more zeros, so 2048 = the rounded `max_seq_len`.
pub const LRA_MAX_TOKENS: usize = 2000;
pub const LRA_PADDED_LENGTH: usize = 2048;

/// Splits on runs of characters other than letters, digits and `_`, dropping them, as
/// TFDS's `Tokenizer(alphanum_only=True)` does: `( ( [MIN 9 ) 9 ] )` → `MIN 9 9`.
pub fn tokenize(source: &str) -> Vec<&str> {
    source
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Ids of a source string under [`VOCABULARY`] (no padding, no truncation).
pub fn encode(source: &str) -> std::result::Result<Vec<u32>, String> {
    tokenize(source)
        .into_iter()
        .map(|token| match VOCABULARY.iter().position(|v| *v == token) {
            Some(index) => Ok(index as u32 + 1),
            None => Err(format!("token {token:?} is not in the ListOps vocabulary")),
        })
        .collect()
}

/// Encodes examples as Skyformer's pipeline does: tokenise, truncate to `max_tokens`,
/// zero-pad to `padded_length`.
pub fn encode_examples(
    examples: &[Example],
    max_tokens: usize,
    padded_length: usize,
) -> Result<Vec<EncodedExample>> {
    if max_tokens > padded_length {
        return Err(Error::InvalidArgument(format!(
            "max_tokens ({max_tokens}) must not exceed padded_length ({padded_length})"
        )));
    }
    examples
        .iter()
        .enumerate()
        .map(|(i, example)| {
            let mut ids = encode(&example.source)
                .map_err(|err| Error::InvalidArgument(format!("example {i}: {err}")))?;
            ids.truncate(max_tokens);
            ids.resize(padded_length, PAD_ID);
            Ok(EncodedExample {
                ids,
                pair: None,
                label: example.label as u32,
            })
        })
        .collect()
}

/// Header of the LRA TSV files.
const TSV_HEADER: &str = "Source\tTarget";

/// Reads an LRA ListOps TSV file (`Source\tTarget` header, one example per line).
/// Every line must have two tab-separated fields, a parseable expression and a target
/// 0–9 equal to the expression's value; errors name the file and line.
pub fn read_tsv(path: &Path) -> Result<Vec<Example>> {
    let file = std::fs::File::open(path).map_err(|err| Error::io(path, err))?;
    let data_error = |line: usize, message: String| Error::Data {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut examples = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|err| Error::io(path, err))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if index == 0 {
            if line != TSV_HEADER {
                return Err(data_error(
                    number,
                    format!("expected the header \"Source\\tTarget\", found {line:?}"),
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [source, target] = fields[..] else {
            return Err(data_error(
                number,
                format!("expected 2 tab-separated fields, found {}", fields.len()),
            ));
        };
        let source = unquote(source);
        let label: u8 = match target.trim().parse() {
            Ok(v) if v <= 9 => v,
            _ => {
                return Err(data_error(
                    number,
                    format!("target must be an integer 0-9, found {target:?}"),
                ));
            }
        };
        let value = evaluate_source(&source)
            .map_err(|err| data_error(number, format!("invalid expression: {err}")))?;
        if value != label {
            return Err(data_error(
                number,
                format!("target {label} differs from the expression's value {value}"),
            ));
        }
        examples.push(Example { source, label });
    }
    if examples.is_empty() && std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(data_error(
            1,
            "empty file: expected the header \"Source\\tTarget\"".into(),
        ));
    }
    Ok(examples)
}

/// Removes CSV quoting (`"…"` with doubled inner quotes) if present.
fn unquote(field: &str) -> String {
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => field.to_string(),
    }
}

/// Writes examples in the LRA TSV format, replacing `path` atomically.
pub fn write_tsv(path: &Path, examples: &[Example]) -> Result<()> {
    let tmp = path.with_extension("tsv.tmp");
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(out, "{TSV_HEADER}")?;
        for example in examples {
            writeln!(out, "{}\t{}", example.source, example.label)?;
        }
        out.flush()
    };
    write().map_err(|err| Error::io(&tmp, err))?;
    std::fs::rename(&tmp, path).map_err(|err| Error::io(path, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_matches_lra_example() {
        let tree = Tree::Op(Operator::Min, vec![Tree::Value(9), Tree::Value(9)]);
        assert_eq!(tree.to_lra_string(), "( ( ( [MIN 9 ) 9 ) ] )");
        assert_eq!(tree.length(), 4);
        assert_eq!(tokenize(&tree.to_lra_string()), vec!["MIN", "9", "9"]);
    }

    #[test]
    fn operators_follow_lra_semantics() {
        assert_eq!(Operator::Med.apply(&[3, 4]), 3);
        assert_eq!(Operator::Med.apply(&[1, 9, 2]), 2);
        assert_eq!(Operator::Med.apply(&[0, 1, 8, 9]), 4);
        assert_eq!(Operator::SumMod.apply(&[9, 8, 7]), 4);
        assert_eq!(Operator::Min.apply(&[5, 2, 7]), 2);
        assert_eq!(Operator::Max.apply(&[5, 2, 7]), 7);
    }

    #[test]
    fn evaluate_source_rejects_malformed_input() {
        assert!(
            evaluate_source("( ( [MIN 3 ) 4 )")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            evaluate_source("( [FOO 3 ] )")
                .unwrap_err()
                .contains("unknown symbol")
        );
        assert!(
            evaluate_source("3 4")
                .unwrap_err()
                .contains("after the complete expression")
        );
        assert!(evaluate_source("").unwrap_err().contains("empty"));
    }
}
