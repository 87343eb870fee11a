//! Splitting one process's stdout or stderr into per-block captures.
//!
//! The generated program writes `\x1E<nonce>:<payload>\x1E` between blocks, where the
//! nonce is random per run and passed in an environment variable, so a block cannot forge
//! or collide with a marker by accident. Payloads: `begin:N` before block N (stdout and
//! stderr), `end` after the last block (both), `failed:N:panic|error` after an
//! `error: true` block failed (stderr only).

use std::collections::BTreeMap;

const SEPARATOR: u8 = 0x1e;

/// Receives a stream's text as it arrives, for verbose output.
pub(crate) type LiveSink = Box<dyn FnMut(&[u8]) + Send>;

/// A marker seen in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Begin(usize),
    End,
    Failed { block: usize, panicked: bool },
}

/// What one block wrote to one stream, up to the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    /// Bytes dropped after the cap was reached.
    pub omitted: u64,
}

/// Splits a byte stream at markers and keeps at most `cap` bytes per block.
pub(crate) struct Splitter {
    prefix: Vec<u8>,
    cap: u64,
    pending: Vec<u8>,
    current: usize,
    blocks: BTreeMap<usize, Captured>,
    live: Option<LiveSink>,
}

impl Splitter {
    pub(crate) fn new(nonce: &str, cap: u64) -> Self {
        let mut prefix = vec![SEPARATOR];
        prefix.extend_from_slice(nonce.as_bytes());
        prefix.push(b':');
        Splitter {
            prefix,
            cap,
            pending: Vec::new(),
            current: 0,
            blocks: BTreeMap::new(),
            live: None,
        }
    }

    /// Passes all text (markers removed, cap not applied) to `live` as it arrives.
    pub(crate) fn set_live(&mut self, live: LiveSink) {
        self.live = Some(live);
    }

    /// Consumes a chunk read from the stream and returns the markers it completed.
    /// Text before the first marker counts as the first block's.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<Marker> {
        self.pending.extend_from_slice(chunk);
        let mut markers = Vec::new();
        loop {
            let Some(start) = find(&self.pending, &self.prefix) else {
                // Keep a tail that may be the start of a marker split across reads.
                let keep = partial_prefix_len(&self.pending, &self.prefix);
                let text: Vec<u8> = self.pending.drain(..self.pending.len() - keep).collect();
                self.push_text(&text);
                break;
            };
            let payload_start = start + self.prefix.len();
            let Some(length) = self.pending[payload_start..]
                .iter()
                .position(|&b| b == SEPARATOR)
            else {
                let text: Vec<u8> = self.pending.drain(..start).collect();
                self.push_text(&text);
                break;
            };
            let text: Vec<u8> = self.pending[..start].to_vec();
            self.push_text(&text);
            let payload =
                String::from_utf8_lossy(&self.pending[payload_start..payload_start + length])
                    .into_owned();
            self.pending.drain(..payload_start + length + 1);
            match parse_payload(&payload) {
                Some(marker) => {
                    if let Marker::Begin(block) = marker {
                        self.current = block;
                        self.blocks.entry(block).or_default();
                    }
                    markers.push(marker);
                }
                None => {
                    let raw = format!(
                        "\u{1e}{}{payload}\u{1e}",
                        String::from_utf8_lossy(&self.prefix[1..])
                    );
                    self.push_text(raw.as_bytes());
                }
            }
        }
        markers
    }

    /// Ends the stream and returns each block's capture.
    pub(crate) fn finish(mut self) -> BTreeMap<usize, Captured> {
        let rest = std::mem::take(&mut self.pending);
        self.push_text(&rest);
        self.blocks
    }

    fn push_text(&mut self, text: &[u8]) {
        if text.is_empty() {
            return;
        }
        if let Some(live) = self.live.as_mut() {
            live(text);
        }
        let captured = self.blocks.entry(self.current).or_default();
        let room = self.cap.saturating_sub(captured.bytes.len() as u64) as usize;
        let kept = room.min(text.len());
        captured.bytes.extend_from_slice(&text[..kept]);
        captured.omitted += (text.len() - kept) as u64;
    }
}

fn parse_payload(payload: &str) -> Option<Marker> {
    let mut parts = payload.split(':');
    match (parts.next()?, parts.next(), parts.next(), parts.next()) {
        ("begin", Some(n), None, None) => Some(Marker::Begin(n.parse().ok()?)),
        ("end", None, None, None) => Some(Marker::End),
        ("failed", Some(n), Some(kind), None) => Some(Marker::Failed {
            block: n.parse().ok()?,
            panicked: kind == "panic",
        }),
        _ => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Returns the length of the longest suffix of `data` that is a proper prefix of `prefix`.
fn partial_prefix_len(data: &[u8], prefix: &[u8]) -> usize {
    (1..prefix.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&prefix[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(nonce: &str, payload: &str) -> Vec<u8> {
        format!("\u{1e}{nonce}:{payload}\u{1e}").into_bytes()
    }

    #[test]
    fn splits_blocks_across_chunk_boundaries() {
        let mut stream = Vec::new();
        stream.extend(marker("n1", "begin:0"));
        stream.extend(b"first\npartial");
        stream.extend(marker("n1", "begin:1"));
        stream.extend(b"second\n");
        stream.extend(marker("n1", "end"));

        for chunk_size in [1, 2, 3, 7, 100] {
            let mut splitter = Splitter::new("n1", 1024);
            let mut markers = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                markers.extend(splitter.feed(chunk));
            }
            let blocks = splitter.finish();
            assert_eq!(
                markers,
                vec![Marker::Begin(0), Marker::Begin(1), Marker::End],
                "chunk size {chunk_size}"
            );
            assert_eq!(blocks[&0].bytes, b"first\npartial");
            assert_eq!(blocks[&1].bytes, b"second\n");
        }
    }

    #[test]
    fn foreign_markers_stay_text() {
        let mut splitter = Splitter::new("n1", 1024);
        let mut input = marker("n1", "begin:0");
        input.extend(marker("other", "begin:1"));
        input.extend(marker("n1", "begin:x"));
        input.extend(b"\x1e");
        splitter.feed(&input);
        let blocks = splitter.finish();
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            blocks[&0].bytes,
            b"\x1eother:begin:1\x1e\x1en1:begin:x\x1e\x1e"
        );
    }

    #[test]
    fn cap_keeps_head_and_counts_rest() {
        let mut splitter = Splitter::new("n", 4);
        splitter.feed(&marker("n", "begin:0"));
        splitter.feed(b"abcdef");
        splitter.feed(b"gh");
        splitter.feed(&marker("n", "begin:1"));
        splitter.feed(b"ok");
        let blocks = splitter.finish();
        assert_eq!(
            blocks[&0],
            Captured {
                bytes: b"abcd".to_vec(),
                omitted: 4
            }
        );
        assert_eq!(
            blocks[&1],
            Captured {
                bytes: b"ok".to_vec(),
                omitted: 0
            }
        );
    }

    #[test]
    fn failure_marker_is_parsed() {
        let mut splitter = Splitter::new("n", 10);
        let markers = splitter.feed(&marker("n", "failed:3:panic"));
        assert_eq!(
            markers,
            vec![Marker::Failed {
                block: 3,
                panicked: true
            }]
        );
    }
}
