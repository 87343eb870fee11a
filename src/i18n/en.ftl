## UI labels shown on the site.

ui-toc = Contents
ui-page-toc = On this page
ui-bibliography = References
ui-prev = Previous
ui-next = Next
ui-draft = Draft
ui-draft-body = This section is still being written.
ui-authors = Authors
ui-original-title = Original title
ui-proceedings = Proceedings page
ui-unclassified = Unclassified
ui-cited-in = Cited in
ui-own-section = Section
ui-not-found-title = Page not found
ui-not-found-body = The page you requested does not exist. Check the address or start from the contents.
ui-home = Home
ui-footnotes = Footnotes
ui-footnote-back = Back to the text
ui-exec-output = Output
ui-exec-stderr = Standard error
ui-exec-error = Error
ui-exec-not-run = This block has no output yet because it has not been run.
ui-exec-omitted = … { $bytes } bytes omitted because the output exceeded the cap.
ui-exec-figure-alt = Figure: { $file }
ui-skip-to-content = Skip to content
ui-page-nav = Previous and next page
ui-site-nav = Site
ui-search = Search
ui-search-label = Search this site
ui-search-placeholder = Keywords
# static/search.js fills in {query} and {count}.
ui-search-count = Pages containing “{"{query}"}”: {"{count}"}
ui-search-none = No page contains “{"{query}"}”.
ui-search-loading = Searching…
ui-search-failed = The search index could not be loaded. Reload the page to try again.
ui-search-no-js = Search needs JavaScript. The contents list every page.
ui-feed = Updates (Atom feed)

## Command-line output.

label-error = error
label-help = help
label-warning = warning
did-you-mean = did you mean `{ $suggestion }`?
build-done = wrote { $pages } pages to { $dir } in { $seconds } s
build-done-incremental = rendered { $rendered } of { $pages } pages that changed, wrote { $written } files to { $dir } and removed { $removed }, in { $seconds } s
build-timings = time per phase:
build-exec-summary = code blocks: ran { $run } pages, took { $frozen } pages from { $freeze }
build-failed = build failed with { $count ->
    [one] 1 error
   *[other] { $count } errors
}; { $dir } was left unchanged
clean-done = removed { $dir }
clean-nothing = { $dir } does not exist; nothing to remove
clean-freeze-kept = kept { $dir }: it holds the committed outputs of code blocks, which clean never removes
exec-compiling = compiling code blocks ({ $pages } pages)
exec-compiled = compiling code blocks: { $count } crates done ({ $crate })
exec-running = running { $page } (block { $block }/{ $blocks })

## Errors in the sources of a site.

io-error = cannot read or write { $path }: { $detail }
    .help = check that the file exists and that you may read and write it
build-manifest-unsaved = could not save the build manifest: { $detail }
    .help = the site was written; the next build writes every page again. Check that .survey/ is writable
search-index-failed = building the search index failed: { $detail }
    .help = check that the output directory is writable; if that is not the cause, rerun with SURVEY_LOG=debug and report the output
config-missing = survey.yaml not found
    .help = run the command in the site's root directory, where survey.yaml is
base-url-invalid = base_url `{ $value }` is neither a URL nor a path
    .help = write it as `/`, `/REPO/` or `https://USER.github.io/REPO/`
yaml-invalid = invalid YAML: { $detail }
    .help = check the indentation, the quotes and the space after each colon; quote values that contain TeX with '…'
yaml-value-invalid = invalid value: { $detail }
    .help = use the types listed in the field tables of docs/architecture.md
field-unknown = unknown field `{ $field }`
    .help = the valid fields are { $expected }
field-missing = missing required field `{ $field }`
    .help = add a line `{ $field }: …` to the header
front-matter-missing = the file does not start with front matter (a YAML header between `---` lines)
    .help = write `---` on line 1 and another line with only `---` after the header
front-matter-unclosed = the front matter that starts on line 1 is never closed
    .help = add a line with only `---` at the end of the header
date-invalid = `{ $field }` is `{ $value }`, which is not a date
    .help = write a date such as `2021-12-06` or an RFC 3339 date-time such as `2021-12-06T10:00:00+09:00`
paper-key-duplicate = two papers have the key `{ $key }` (the other is { $other })
    .help = change `key` in one of the files to the right entry, or delete the duplicate file
paper-number-duplicate = two paper files have the number { $number } (the other is { $other })
    .help = renumber the file names so that no two share a number prefix
paper-bib-missing = no bibliography entry for key `{ $key }` in bib/ or in the front matter's `bib:`
    .help = add the entry to a .bib file in bib/, or write the BibTeX entry under `bib:` in the front matter
cite-unknown = citation key `{ $key }` matches no bibliography entry
    .help = check the spelling of the key or add the entry to bib/
taxonomy-node-unknown = taxonomy node `{ $node }` is not in content/taxonomy.yaml
    .help = write the dotted path of node ids from the root (for example transformer-improve.efficient-attention)
taxonomy-id-duplicate = node id `{ $id }` appears twice among siblings
    .help = give sibling nodes distinct ids
taxonomy-id-invalid = node id `{ $id }` is not allowed
    .help = use only letters, digits, `-` and `_` in ids; `.` separates levels
bib-parse = cannot parse the BibTeX entry: { $detail }
    .help = check that braces match, that fields are separated by commas and written as `name = {"{"}value{"}"}`
bib-key-duplicate = BibTeX key `{ $key }` is defined twice (the other is { $other })
    .help = delete one of the entries or change its key
bib-inline-key-mismatch = the key `{ $found }` of the entry under `bib:` differs from `key: { $key }`
    .help = make the two keys equal
bib-inline-count = `bib:` must contain exactly one entry, but it contains { $count }
    .help = keep only this paper's entry
bib-title-missing = BibTeX entry `{ $key }` has no title
    .help = add `title = {"{"}…{"}"}`
tex-invalid = KaTeX cannot typeset this formula: { $detail }
    .help = check the spelling of TeX commands and that braces match; write a literal dollar sign as `\$`
shortcode-unknown = unknown shortcode `{ $name }`
    .help = the shortcodes are {"{{"}< taxonomy >{"}}"} and {"{{"}< taxonomy node="ID" >{"}}"}
shortcode-not-alone = a shortcode must be a paragraph of its own
    .help = put a blank line before and after the shortcode
template-error = cannot render the template { $name }: { $detail }
    .help = check the template's syntax and variable names in templates/
exec-failed = { $message }
exec-block-failed = code block `{ $block }` { $kind ->
        [compile] failed to compile
        [panic] panicked
        [error] returned an error
        [exit] exited abnormally
        [timeout] timed out
        [invalid-utf8] wrote output that is not UTF-8
        [output-too-large] wrote more output than the cap
       *[not-run] did not run
    }{ $detail }
    .help = fix the block, or add `//| error: true` to it to show the failure on the page instead
exec-freeze-stale = the outputs in { $dir } are stale ({ $reason })
    .help = run `survey build` to run the page again, then commit the updated { $dir }
exec-engine-failed = cannot run code blocks: { $detail }
    .help = check that the Rust toolchain (cargo, rustc) is installed and that exec.dependencies in survey.yaml is correct
exec-block-mismatch = this `rust,exec` block does not start where the execution engine found one
    .help = move the block out of block quotes (>) and put blank lines around its fences

## survey serve

serve-listening = serving at { $url }; press Ctrl-C to stop
serve-public-interface = listening on { $interface }, so other machines can see this site too
serve-changed = { $others ->
    [0] changed: { $path }; rebuilding
   *[other] changed: { $path } and { $others } more; rebuilding
}
serve-search-indexed = updated { $shards ->
    [one] one shard
   *[other] { $shards } shards
} of the search index in { $seconds } s
serve-build-failed = build failed with { $count ->
    [one] 1 error
   *[other] { $count } errors
}; the browser shows the errors until they are fixed
serve-stopped = server stopped
serve-port-taken = port { $port } is already in use
    .help = choose another port with `--port`, or let the system pick a free one with `--port 0`
serve-bind-failed = cannot listen on { $address }: { $detail }
    .help = check the values of `--interface` and `--port`
serve-start-failed = cannot start the server: { $detail }
    .help = run the command again; if it keeps failing, run it with SURVEY_LOG=debug and read the output
serve-watch-failed = cannot watch the site's files: { $detail }
    .help = check the limit on inotify watches (fs.inotify.max_user_watches)
serve-overlay-title = Build failed with { $count ->
    [one] 1 error
   *[other] { $count } errors
}
serve-overlay-note = Fix the files and save; this page reloads by itself.

## survey new

new-key-invalid = `{ $key }` cannot be a paper key
    .help = start with a letter or digit and use only letters, digits, `-`, `_` and `.` (for example chen2021skyformer)
new-paper-exists = a paper with the key `{ $key }` already exists in this file
    .help = edit this file, or choose another key
new-file-exists = { $path } already exists and is not overwritten
    .help = choose another key, or move the existing file away and run the command again
new-created-paper = created { $path } (status: draft)
new-created-bib = wrote a BibTeX stub to { $path }; fill in the authors, title, venue, year and URL
new-bib-found = the entry `{ $key }` is in { $path }
new-template-title = Section headline; the entry's title when left out.
new-template-taxonomy =
    Taxonomy node and one-line summary. Remove the leading # and set node to one of these.
    A paper whose summary equals the node's label is listed on the node's own line.
new-template-no-nodes = (content/taxonomy.yaml has no nodes yet)
new-template-status = Change draft to published when the section is finished.
new-template-body = Write the section here.
new-template-bib = Stub written by survey new paper; fill in the details.
new-template-bib-title = Untitled

## survey check

label-info = info
check-summary = check finished: { $errors ->
    [one] 1 error
   *[other] { $errors } errors
}, { $warnings ->
    [one] 1 warning
   *[other] { $warnings } warnings
}, { $infos } info
check-links-skipped = links and anchors were not checked because the site does not build
    .help = fix the errors above and run survey check again
check-broken-link = the link target `{ $target }` does not exist in the site
    .help = check the spelling; link to another page by its URL in the site (for example /papers/03-skyformer/), not by its `.md` file
check-link-outside-base = the link target `{ $target }` points outside { $base }, where the site is served
    .help = write a relative path, or a path that starts with { $base }
check-broken-anchor = { $target } has no element with the id `{ $anchor }`
    .help = heading ids come from the heading text (`## Overview` becomes #overview); check the headings of the target page
check-missing-alt = the image `{ $src }` has no alternative text
    .help = describe the image between the brackets: `![what the figure shows](…)`
check-external-link = external link: { $url }
check-uncited-entry = the entry `{ $key }` is never cited
    .help = cite it as [@{ $key }] in the text, or delete the entry if it is not needed
check-unclassified-paper = the paper `{ $key }` belongs to no taxonomy node (it is listed as unclassified)
    .help = add `taxonomy:` with `- node: …` and `summary: …` to the front matter
check-missing-summary = the summary for the taxonomy node `{ $node }` is empty
    .help = write a one-line summary of the paper
check-empty-node = the taxonomy node `{ $node }` has no papers, nor do the nodes below it
    .help = name this node in a paper's front matter, or delete the node if it is not needed
check-draft = this paper is still a draft (status: draft)
    .help = change it to `status: published` when the section is finished
check-duplicate-id = the heading id `{ $id }` is the same as that of the heading on line { $line }; links to #{ $id } go to the first one
    .help = reword the heading, or give it an id with `{"{"}#another-id{"}"}`
check-duplicate-explicit-id = the heading id `{ $id }` is already used on line { $line }
    .help = ids set with `{"{"}#…{"}"}` must be unique within the page
check-freeze-stale = the frozen output of the code blocks is out of date ({ $reason })
    .help = run survey build to execute them again and commit the updated _freeze/
check-freeze-missing = the output of the code blocks is not frozen (nothing in _freeze/)
    .help = run survey build to execute them and commit _freeze/
check-freeze-unreadable = cannot check the frozen outputs: { $detail }
    .help = check the exec settings in survey.yaml and the Rust toolchain

## YAML mistakes with a message of their own.

field-duplicate = the field `{ $field }` is written twice
    .help = delete one of the two lines
value-unknown = `{ $value }` is not a valid value of `{ $field }`
    .help = the valid values are { $expected }
value-type = `{ $field }` must be { $expected ->
        [string] text
        [integer] a whole number
        [float] a number
        [bool] true or false
        [sequence] a list (lines starting with `- `)
        [map] `name: value` pairs
       *[other] a value of another type
    }, but it is { $found ->
        [string] text
        [integer] a whole number
        [float] a decimal number
        [bool] a boolean
        [sequence] a list
        [map] `name: value` pairs
        [null] empty
       *[other] a value of another type
    }
    .help = use the types listed in the field tables of docs/architecture.md; quote a value with '…' to make it text
yaml-tab = the indentation contains a tab character
    .help = YAML does not allow tabs for indentation; indent with spaces
yaml-colon = the value contains a colon and a space (`: `), which YAML cannot read here
    .help = quote the whole value with '…' when it contains a colon (`: `)
yaml-escape = the double-quoted value contains an invalid escape (`\` and the next character)
    .help = quote values that contain backslashes, such as TeX, with single quotes '…'
yaml-bad-start = a tab, or a character that cannot start a plain value (`@` or a backquote)
    .help = indent with spaces, not tabs; quote a value that starts with `@` or a backquote with '…'
yaml-unclosed = a quote or bracket is never closed
    .help = check that every ', ", [ and {"{"} around a value is closed
yaml-indentation = the indentation is not consistent
    .help = indent lines of the same level by the same number of spaces, and start list items with `- `

## Options and warnings of executed code blocks.

list-separator = {", "}
exec-option-line = `//|{ $text }` is not of the form `//| key: value`
    .help = the keys are { $keys }
exec-option-unknown = unknown option `{ $key }`
    .help = the options are { $keys }
exec-option-repeated = the option `{ $key }` is set twice
    .help = keep one `//| { $key }:` line
exec-option-bool = `{ $value }` is not a valid value of `{ $key }`
    .help = write true or false
exec-option-output = `{ $value }` is not a valid value of `output`
    .help = write text, asis or false
exec-option-label = the label `{ $value }` is not allowed
    .help = the label names figure files, so use only ASCII letters, digits, `-` and `_`
exec-option-timeout = `{ $value }` is not a valid value of `timeout`
    .help = write a whole number of seconds greater than 0 (for example `//| timeout: 600`)
exec-option-quote = cannot read the quoted value { $value }: { $detail }
    .help = check that the quotes are closed, and the backslashes inside double quotes
exec-info-attribute = unknown attribute `{ $attribute }` in the info string `{ $info }`
    .help = open an executable block with ```rust,exec and write its options as `//| key: value` lines
exec-label-duplicate = the label `{ $label }` is already used by the block on line { $line }
    .help = give every block of a page its own label
exec-stale-no-entry = the page was never run
exec-stale-mismatch = the frozen outputs do not fit the page's blocks
exec-stale-changed = changed since it was frozen: { $changes }
exec-change-blocks = the code blocks
exec-change-dependencies = exec.dependencies
exec-change-lockfile = Cargo.lock
exec-change-path = the sources of `{ $name }`
exec-change-rustc = rustc ({ $version })
exec-change-generator = survey's code generator
exec-warn-freeze-unchecked = cannot tell whether the frozen outputs are up to date: { $detail }
    .help = check the exec settings in survey.yaml and the Rust toolchain
exec-warn-unpinned = the dependency `{ $name }` is not in { $lockfile }, so its version is not pinned
    .help = add it to the workspace's dependencies and run `cargo update -p { $name }`
exec-warn-invalid-freeze = cannot read the frozen outputs, so the page runs again: { $detail }
exec-warn-stale = the outputs of the code blocks are not up to date ({ $reason })
    .help = run `survey build` to run them again and commit the updated _freeze/
exec-warn-compiler = compiling the code blocks gave a warning:
    { $text }
