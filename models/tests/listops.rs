//! The ListOps generator, evaluator, tokenizer and TSV files.

use std::collections::HashSet;

use seqmodels::listops::{
    self, Example, GeneratorConfig, LRA_MAX_TOKENS, LRA_PADDED_LENGTH, VOCABULARY, encode,
    encode_examples, evaluate_source, generate, read_tsv, tokenize, write_tsv,
};

fn small_config() -> GeneratorConfig {
    GeneratorConfig {
        max_depth: 4,
        max_args: 5,
        operator_probability: 0.25,
        min_length: 8,
        max_length: 40,
        num_train: 300,
        num_dev: 40,
        num_test: 40,
    }
}

/// The LRA length: every symbol but the parentheses.
fn lra_length(source: &str) -> usize {
    source
        .split_whitespace()
        .filter(|s| *s != "(" && *s != ")")
        .count()
}

#[test]
fn generated_splits_obey_the_rules() {
    let config = small_config();
    let splits = generate(&config, 7).unwrap();
    assert_eq!(
        (splits.train.len(), splits.dev.len(), splits.test.len()),
        (300, 40, 40)
    );

    let all: Vec<&Example> = splits
        .train
        .iter()
        .chain(&splits.dev)
        .chain(&splits.test)
        .collect();
    let unique: HashSet<&str> = all.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(unique.len(), all.len(), "examples are unique across splits");
    for example in &all {
        let length = lra_length(&example.source);
        assert!(
            length > config.min_length && length < config.max_length,
            "length {length}: {}",
            example.source
        );
        assert_eq!(
            evaluate_source(&example.source),
            Ok(example.label),
            "{}",
            example.source
        );
        assert!(example.label <= 9);
    }
    // All ten labels occur, and every operator is used.
    let labels: HashSet<u8> = all.iter().map(|e| e.label).collect();
    assert_eq!(labels.len(), 10);
    for op in ["[MIN", "[MAX", "[MED", "[SM"] {
        assert!(
            all.iter().any(|e| e.source.contains(op)),
            "{op} never drawn"
        );
    }
}

#[test]
fn generation_is_deterministic_per_seed() {
    let config = small_config();
    assert_eq!(generate(&config, 3).unwrap(), generate(&config, 3).unwrap());
    assert_ne!(
        generate(&config, 3).unwrap().train,
        generate(&config, 4).unwrap().train
    );
}

#[test]
fn lra_settings_give_long_sequences() {
    let config = GeneratorConfig {
        num_train: 20,
        num_dev: 2,
        num_test: 2,
        ..GeneratorConfig::lra()
    };
    let splits = generate(&config, 1).unwrap();
    for example in splits.train.iter().chain(&splits.dev).chain(&splits.test) {
        let length = lra_length(&example.source);
        assert!(length > 500 && length < 2000, "length {length}");
        let tokens = tokenize(&example.source).len();
        // Tokens drop the "]" of every operator, so they number fewer than the length.
        assert!(tokens < length && tokens < LRA_MAX_TOKENS);
        assert_eq!(evaluate_source(&example.source), Ok(example.label));
    }
}

#[test]
fn impossible_limits_are_rejected() {
    let config = GeneratorConfig {
        min_length: 10,
        max_length: 11,
        ..small_config()
    };
    let err = generate(&config, 1).unwrap_err().to_string();
    assert!(err.contains("strictly between"), "{err}");
    let config = GeneratorConfig {
        max_args: 1,
        ..small_config()
    };
    assert!(
        generate(&config, 1)
            .unwrap_err()
            .to_string()
            .contains("max_args")
    );
}

#[test]
fn tokenizer_uses_fixed_vocabulary_and_padding() {
    let source = "( ( ( [MIN 9 ) ( ( [SM 0 ) 3 ) ] ) ) ] )";
    assert_eq!(tokenize(source), vec!["MIN", "9", "SM", "0", "3"]);
    assert_eq!(encode(source).unwrap(), vec![1, 14, 4, 5, 8]);
    assert_eq!(VOCABULARY.len(), 14);
    assert!(encode("( [FIRST 3 ] )").unwrap_err().contains("FIRST"));

    let examples = vec![Example {
        source: source.to_string(),
        label: 9,
    }];
    let encoded = encode_examples(&examples, LRA_MAX_TOKENS, LRA_PADDED_LENGTH).unwrap();
    assert_eq!(encoded[0].ids.len(), 2048);
    assert_eq!(&encoded[0].ids[..6], &[1, 14, 4, 5, 8, 0]);
    assert!(encoded[0].ids[5..].iter().all(|&id| id == listops::PAD_ID));
    assert_eq!(encoded[0].label, 9);

    // Truncation keeps the first tokens.
    let truncated = encode_examples(&examples, 3, 4).unwrap();
    assert_eq!(truncated[0].ids, vec![1, 14, 4, 0]);
    assert!(encode_examples(&examples, 5, 4).is_err());
}

#[test]
fn tsv_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("basic_train.tsv");
    let splits = generate(&small_config(), 11).unwrap();
    write_tsv(&path, &splits.train).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("Source\tTarget\n"));
    assert_eq!(read_tsv(&path).unwrap(), splits.train);
}

#[test]
fn tsv_reader_accepts_crlf_and_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crlf.tsv");
    std::fs::write(
        &path,
        "Source\tTarget\r\n\"( ( ( [MAX 2 ) 7 ) ] )\"\t7\r\n\r\n",
    )
    .unwrap();
    let examples = read_tsv(&path).unwrap();
    assert_eq!(
        examples,
        vec![Example {
            source: "( ( ( [MAX 2 ) 7 ) ] )".into(),
            label: 7
        }]
    );
}

#[test]
fn tsv_reader_reports_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("header.tsv", "source\ttarget\n", ":1:", "header"),
        (
            "fields.tsv",
            "Source\tTarget\n( ( ( [MIN 1 ) 2 ) ] )\t1\textra\n",
            ":2:",
            "2 tab-separated fields",
        ),
        (
            "target.tsv",
            "Source\tTarget\n( ( ( [MIN 1 ) 2 ) ] )\t12\n",
            ":2:",
            "integer 0-9",
        ),
        (
            "label.tsv",
            "Source\tTarget\n( ( ( [MIN 1 ) 2 ) ] )\t2\n",
            ":2:",
            "differs from the expression's value 1",
        ),
        (
            "expr.tsv",
            "Source\tTarget\n( ( ( [MIN 1 ) 2 )\t1\n",
            ":2:",
            "not closed",
        ),
        ("empty.tsv", "", ":1:", "empty file"),
    ];
    for (name, content, line, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = read_tsv(&path).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains(line) && err.contains(message),
            "{name}: {err}"
        );
    }
    let err = read_tsv(&dir.path().join("absent.tsv"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.tsv"), "{err}");
}
