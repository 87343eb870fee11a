#!/bin/sh
# Builds the benchmark's synthetic survey with `survey build` and the same
# papers with Hugo, side by side in one run, and prints the ratio of their
# median build times.
#
# Usage: benches/compare-hugo.sh [--runs N] [PAPERS...]   (default: 1000)
# Needs `hugo` on PATH (Debian: apt-get install -y hugo).
#
# Hugo renders the same Markdown bodies (headings, tables, footnotes and
# highlighted code) with a page template that has the page's table of
# contents and previous/next links, and a home page listing every paper. It
# leaves math and citations as text, so it does less work than survey,
# which typesets every formula with KaTeX and resolves every citation.
set -eu

if ! command -v hugo >/dev/null 2>&1; then
    echo "compare-hugo: hugo is not installed; install it (Debian: apt-get install -y hugo)" >&2
    exit 1
fi
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- 1000
fi
exec cargo bench --bench build -- --compare-hugo "$@"
