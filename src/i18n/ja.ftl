## UI labels shown on the site.

ui-toc = 目次
ui-page-toc = このページの内容
ui-bibliography = 参考文献
ui-prev = 前へ
ui-next = 次へ
ui-draft = 執筆中
ui-draft-body = この節は執筆中です。
ui-authors = 著者
ui-original-title = 原題
ui-proceedings = 論文ページ
ui-unclassified = 未分類
ui-cited-in = 引用箇所
ui-own-section = 本文
ui-not-found-title = ページが見つかりません
ui-not-found-body = お探しのページは見つかりませんでした。URL を確認するか、目次からたどってください。
ui-home = トップページ
ui-footnotes = 脚注
ui-footnote-back = 本文へ戻る
ui-exec-output = 出力
ui-exec-stderr = 標準エラー出力
ui-exec-error = エラー
ui-exec-not-run = このブロックはまだ実行されていないため、出力がありません。
ui-exec-omitted = … 出力が上限を超えたため { $bytes } バイトを省略しました。
ui-exec-figure-alt = 図: { $file }
ui-skip-to-content = 本文へ移動
ui-page-nav = 前後のページ
ui-site-nav = サイト内の案内
ui-search = 検索
ui-search-label = サイト内を検索
ui-search-placeholder = キーワード (例: アテンション)
# static/search.js fills in {query} and {count}.
ui-search-count = 「{"{query}"}」を含むページ: {"{count}"} 件
ui-search-none = 「{"{query}"}」を含むページは見つかりませんでした。
ui-search-loading = 検索しています…
ui-search-failed = 検索索引を読み込めませんでした。ページを再読み込みしてください。
ui-search-no-js = 検索には JavaScript が必要です。目次からページをたどることもできます。
ui-feed = 更新情報 (Atom フィード)

## Command-line output.

label-error = エラー
label-help = 修正方法
label-warning = 警告
did-you-mean = もしかして `{ $suggestion }` ですか?
build-done = { $pages } ページを { $dir } に書き出しました ({ $seconds } 秒)。
build-done-incremental = { $pages } ページのうち変更のあった { $rendered } ページを描画し、{ $dir } のファイルを { $written } 個書き換え、{ $removed } 個削除しました ({ $seconds } 秒)。
build-timings = 各段階の所要時間:
build-exec-summary = コードブロック: { $run } ページを実行し、{ $frozen } ページは { $freeze } の出力を使いました。
build-failed = ビルドに失敗しました (エラー { $count } 件)。{ $dir } は変更していません。
clean-done = { $dir } を削除しました。
clean-nothing = { $dir } はありません。削除するものはありません。
clean-freeze-kept = { $dir } は残しました。コミットするコードブロックの出力なので、clean では削除しません。
exec-compiling = コードブロックをコンパイル中 ({ $pages } ページ)
exec-compiled = コードブロックをコンパイル中: { $count } クレート完了 ({ $crate })
exec-running = { $page } を実行中 (ブロック { $block }/{ $blocks })

## Errors in the sources of a site.

io-error = { $path } を読み書きできません: { $detail }
    .help = ファイルが存在し、読み書きの権限があることを確認してください。
build-manifest-unsaved = ビルドの記録を保存できませんでした: { $detail }
    .help = サイトは書き出し済みです。次のビルドはすべてのページを書き直します。.survey/ に書き込めるか確かめてください。
search-index-failed = 検索索引を作れませんでした: { $detail }
    .help = 出力ディレクトリに書き込めるか確かめてください。直らなければ SURVEY_LOG=debug を付けて再実行し、出力を添えて報告してください。
config-missing = survey.yaml が見つかりません。
    .help = サイトのルートディレクトリ (survey.yaml がある場所) で実行してください。
base-url-invalid = base_url `{ $value }` は URL としても パスとしても解釈できません。
    .help = `/`、`/REPO/` または `https://USER.github.io/REPO/` の形で書いてください。
yaml-invalid = YAML の構文が正しくありません: { $detail }
    .help = インデント、引用符、コロンの後の空白を確認してください。TeX を含む値は '…' で囲んでください。
yaml-value-invalid = 値が正しくありません: { $detail }
    .help = docs/architecture.md のフィールド一覧にある型で書いてください。
field-unknown = 未知のフィールド `{ $field }` があります。
    .help = 使えるフィールドは { $expected } です。
field-missing = 必須のフィールド `{ $field }` がありません。
    .help = ヘッダーに `{ $field }: …` の行を追加してください。
front-matter-missing = ファイルの先頭にフロントマター (`---` で囲んだ YAML ヘッダー) がありません。
    .help = 1 行目に `---`、ヘッダーの後にもう一度 `---` だけの行を書いてください。
front-matter-unclosed = 1 行目で始まるフロントマターが閉じられていません。
    .help = ヘッダーの最後に `---` だけの行を追加してください。
date-invalid = `{ $field }` の値 `{ $value }` は日付として読めません。
    .help = `2021-12-06` のような日付か、`2021-12-06T10:00:00+09:00` のような RFC 3339 の日時で書いてください。
paper-key-duplicate = キー `{ $key }` の論文が 2 つあります (もう一方は { $other })。
    .help = どちらかのファイルの `key` を正しい文献のキーに直すか、重複したファイルを削除してください。
paper-number-duplicate = 番号 { $number } の論文ファイルが 2 つあります (もう一方は { $other })。
    .help = ファイル名の先頭の番号が重ならないように付け直してください。
paper-bib-missing = キー `{ $key }` の文献が bib/ にもフロントマターの `bib:` にもありません。
    .help = bib/ の .bib ファイルにエントリを追加するか、フロントマターの `bib:` に BibTeX エントリを書いてください。
cite-unknown = 引用キー `{ $key }` に該当する文献がありません。
    .help = キーの綴りを確認するか、bib/ にエントリを追加してください。
taxonomy-node-unknown = 分類ノード `{ $node }` は content/taxonomy.yaml にありません。
    .help = taxonomy.yaml のノード id を根からドットでつないだパスを書いてください (例: transformer-improve.efficient-attention)。
taxonomy-id-duplicate = ノード id `{ $id }` が同じ階層に 2 つあります。
    .help = 兄弟ノードの id は重ならないようにしてください。
taxonomy-id-invalid = ノード id `{ $id }` は使えません。
    .help = id には英数字、`-`、`_` だけを使ってください (`.` は階層の区切りです)。
bib-parse = BibTeX エントリを解析できません: { $detail }。
    .help = 波括弧の対応、フィールドの間のカンマ、`name = {"{"}value{"}"}` の形を確認してください。
bib-key-duplicate = BibTeX キー `{ $key }` が 2 回定義されています (もう一方は { $other })。
    .help = どちらかのエントリを削除するか、キーを変えてください。
bib-inline-key-mismatch = `bib:` のエントリのキー `{ $found }` が `key: { $key }` と一致しません。
    .help = 2 つのキーを同じにしてください。
bib-inline-count = `bib:` にはエントリをちょうど 1 つ書いてください ({ $count } 個あります)。
    .help = この論文のエントリだけを残してください。
bib-title-missing = BibTeX エントリ `{ $key }` に title がありません。
    .help = `title = {"{"}…{"}"}` を追加してください。
tex-invalid = 数式を KaTeX で組めません: { $detail }
    .help = TeX のコマンドの綴りと括弧の対応を確認してください。ドル記号そのものは `\$` と書きます。
shortcode-unknown = 未知のショートコード `{ $name }` です。
    .help = 使えるショートコードは {"{{"}< taxonomy >{"}}"} と {"{{"}< taxonomy node="ID" >{"}}"} です。
shortcode-not-alone = ショートコードは前後を空行で区切った単独の段落に書いてください。
    .help = ショートコードの前後に空行を入れてください。
template-error = テンプレート { $name } を描画できません: { $detail }
    .help = templates/ のテンプレートの構文と変数名を確認してください。
exec-failed = { $message }
exec-block-failed = コードブロック `{ $block }` { $kind ->
        [compile] をコンパイルできません
        [panic] がパニックしました
        [error] がエラーを返しました
        [exit] が異常終了しました
        [timeout] がタイムアウトしました
        [invalid-utf8] が UTF-8 でない出力を書きました
        [output-too-large] の出力が上限を超えました
       *[not-run] は実行されませんでした
    }{ $detail }
    .help = ブロックを直してください。失敗をページに表示するだけでよければ、ブロックに `//| error: true` を付けます。
exec-freeze-stale = { $dir } の出力が古くなっています ({ $reason })
    .help = `survey build` でページを実行し直し、更新した { $dir } をコミットしてください。
exec-engine-failed = コードブロックを実行できません: { $detail }
    .help = Rust のツールチェーン (cargo, rustc) が使えること、survey.yaml の exec.dependencies が正しいことを確認してください。
exec-block-mismatch = この `rust,exec` ブロックの位置が、実行エンジンが見つけたブロックと一致しません。
    .help = ブロックを引用 (>) の外に出し、フェンスの前後に空行を入れてください。

## survey serve

serve-listening = { $url } で配信しています。Ctrl-C で終了します。
serve-public-interface = { $interface } で待ち受けているため、ほかのマシンからもこのサイトを見られます。
serve-changed = { $others ->
    [0] 変更を検出しました: { $path }。再ビルドします。
   *[other] 変更を検出しました: { $path } ほか { $others } 件。再ビルドします。
}
serve-search-indexed = 検索索引のシャード { $shards } 個を更新しました ({ $seconds } 秒)。
serve-build-failed = ビルドに失敗しました (エラー { $count } 件)。直すまでブラウザにエラーを表示します。
serve-stopped = サーバーを停止しました。
serve-port-taken = ポート { $port } はすでに使われています。
    .help = `--port` で別の番号を指定するか、`--port 0` で空いているポートを自動で選ばせてください。
serve-bind-failed = { $address } で待ち受けられません: { $detail }
    .help = `--interface` と `--port` の値を確認してください。
serve-start-failed = サーバーを起動できません: { $detail }
    .help = もう一度実行してください。繰り返す場合は SURVEY_LOG=debug を付けて実行し、出力を確認してください。
serve-watch-failed = ファイルの監視を始められません: { $detail }
    .help = inotify の監視数の上限 (fs.inotify.max_user_watches) を確認してください。
serve-overlay-title = ビルドに失敗しました (エラー { $count } 件)
serve-overlay-note = ファイルを直して保存すると、このページは自動で再読み込みされます。

## survey new

new-key-invalid = `{ $key }` は論文のキーに使えません。
    .help = 英数字で始め、英数字と `-`、`_`、`.` だけを使ってください (例: chen2021skyformer)。
new-paper-exists = キー `{ $key }` の論文はすでにこのファイルにあります。
    .help = このファイルを編集するか、別のキーを指定してください。
new-file-exists = { $path } はすでにあるので、上書きしません。
    .help = 別のキーを指定するか、既存のファイルを移してからもう一度実行してください。
new-created-paper = { $path } を作成しました (執筆中の状態です)。
new-created-bib = { $path } に BibTeX エントリの雛形を書きました。著者、タイトル、会議名、年、URL を埋めてください。
new-bib-found = 文献 `{ $key }` は { $path } にあります。
new-template-title = 節の見出し。省略すると文献のタイトルを使います。
new-template-taxonomy =
    分類ノードと一行の要約。行頭の # を外し、node には次のどれかを書きます。
    要約がノードのラベルと同じなら、論文はそのノードの行に並びます。
new-template-no-nodes = (content/taxonomy.yaml にノードがまだありません)
new-template-status = 書き終えたら draft を published に変えます。
new-template-body = ここに本文を書きます。
new-template-bib = survey new paper が作った雛形です。書誌情報を埋めてください。
new-template-bib-title = タイトル未記入

## survey check

label-info = 情報
check-summary = 確認が終わりました: エラー { $errors } 件、警告 { $warnings } 件、情報 { $infos } 件。
check-links-skipped = サイトをビルドできなかったので、リンクとアンカーは確認していません。
    .help = 上のエラーを直してから、もう一度 survey check を実行してください。
check-broken-link = リンク先 `{ $target }` はサイトにありません。
    .help = 綴りを確認してください。ほかのページへのリンクは `.md` のファイル名ではなく、サイトの URL (例: /papers/03-skyformer/) で書きます。
check-link-outside-base = リンク先 `{ $target }` は、サイトを置く場所 { $base } の外を指しています。
    .help = 相対パスで書くか、{ $base } から始まるパスで書いてください。
check-broken-anchor = { $target } に id が `{ $anchor }` の要素がありません。
    .help = 見出しの id は見出しの文字から作られます (例: `## 概要` は #概要)。リンク先の見出しを確認してください。
check-missing-alt = 画像 `{ $src }` に代替テキストがありません。
    .help = `![図の説明](…)` のように、角括弧の中に画像の内容を書いてください。
check-external-link = 外部リンク: { $url }
check-uncited-entry = 文献 `{ $key }` はどこからも引用されていません。
    .help = 本文で [@{ $key }] と引用するか、不要ならエントリを削除してください。
check-unclassified-paper = 論文 `{ $key }` は分類ノードに属していません (未分類に表示されます)。
    .help = フロントマターに `taxonomy:` と `- node: …` / `summary: …` を追加してください。
check-missing-summary = 分類ノード `{ $node }` への要約 (summary) が空です。
    .help = 論文の内容を一行で表す要約を書いてください。
check-empty-node = 分類ノード `{ $node }` にも、その下のノードにも論文がありません。
    .help = 論文のフロントマターでこのノードを指定するか、不要ならノードを削除してください。
check-draft = この論文はまだ執筆中 (status: draft) です。
    .help = 書き終えたら `status: published` にしてください。
check-duplicate-id = 見出しの id `{ $id }` は { $line } 行目の見出しと同じです。#{ $id } へのリンクは最初の見出しに飛びます。
    .help = 見出しの文言を変えるか、`{"{"}#別の-id{"}"}` で id を指定してください。
check-duplicate-explicit-id = 見出しの id `{ $id }` は { $line } 行目ですでに使われています。
    .help = `{"{"}#…{"}"}` で指定する id はページ内で重ならないようにしてください。
check-freeze-stale = コードブロックの凍結された出力が古くなっています ({ $reason })。
    .help = survey build で実行し直し、更新された _freeze/ をコミットしてください。
check-freeze-missing = コードブロックの出力が凍結されていません (_freeze/ にありません)。
    .help = survey build で実行し、できた _freeze/ をコミットしてください。
check-freeze-unreadable = 凍結された出力を確認できません: { $detail }
    .help = survey.yaml の exec の設定と Rust のツールチェーンを確認してください。

## YAML mistakes with a message of their own.

field-duplicate = フィールド `{ $field }` が 2 回書かれています。
    .help = どちらか一方を削除してください。
value-unknown = `{ $field }` に `{ $value }` は使えません。
    .help = 使える値は { $expected } です。
value-type = `{ $field }` には{ $expected ->
        [string] 文字列
        [integer] 整数
        [float] 数値
        [bool] true か false
        [sequence] リスト (`- ` で始まる行)
        [map] `名前: 値` の組
       *[other] 別の型の値
    }を書いてください ({ $found ->
        [string] 文字列
        [integer] 整数
        [float] 小数
        [bool] 真偽値
        [sequence] リスト
        [map] `名前: 値` の組
        [null] 空の値
       *[other] 別の型の値
    }が書かれています)。
    .help = docs/architecture.md のフィールド一覧にある型で書いてください。文字列として扱いたい値は '…' で囲みます。
yaml-tab = インデントにタブ文字が使われています。
    .help = YAML のインデントにはタブを使えません。スペースで字下げしてください。
yaml-colon = 値の中にコロンと空白 (`: `) があるため、YAML として読めません。
    .help = 値にコロン (`: `) を含めるときは、値全体を '…' で囲んでください。
yaml-escape = ダブルクォートの中に使えないエスケープ (`\` と次の文字) があります。
    .help = TeX のようにバックスラッシュを含む値は、シングルクォート '…' で囲んでください。
yaml-bad-start = タブ文字か、値の先頭には書けない文字 (`@`、バッククォートなど) があります。
    .help = インデントにはタブではなくスペースを使ってください。`@` などで始まる値は全体を '…' で囲みます。
yaml-unclosed = 引用符か括弧が閉じられないまま終わっています。
    .help = 値を囲む ' や "、[ や {"{"} が閉じているか確認してください。
yaml-indentation = インデントが揃っていません。
    .help = 同じ階層の行は同じ数のスペースで字下げし、リストの項目は `- ` で始めてください。

## Options and warnings of executed code blocks.

list-separator = 、
exec-option-line = `//|{ $text }` は `//| キー: 値` の形になっていません。
    .help = 使えるキーは { $keys } です。
exec-option-unknown = 未知のオプション `{ $key }` です。
    .help = 使えるオプションは { $keys } です。
exec-option-repeated = オプション `{ $key }` が 2 回指定されています。
    .help = `//| { $key }:` の行を 1 つだけ残してください。
exec-option-bool = `{ $key }` に `{ $value }` は使えません。
    .help = true か false を書いてください。
exec-option-output = `output` に `{ $value }` は使えません。
    .help = text、asis、false のどれかを書いてください。
exec-option-label = ラベル `{ $value }` は使えません。
    .help = ラベルは図のファイル名になるので、英数字と `-`、`_` だけを使ってください。
exec-option-timeout = `timeout` に `{ $value }` は使えません。
    .help = 1 以上の整数で秒数を書いてください (例: `//| timeout: 600`)。
exec-option-quote = 引用符で囲んだ値 { $value } を読めません: { $detail }
    .help = 引用符が閉じているか、ダブルクォートの中のバックスラッシュを確認してください。
exec-info-attribute = info 文字列 `{ $info }` に未知の属性 `{ $attribute }` があります。
    .help = 実行するブロックは ```rust,exec で始め、オプションは `//| キー: 値` の行に書きます。
exec-label-duplicate = ラベル `{ $label }` は { $line } 行目のブロックですでに使われています。
    .help = ラベルはページ内で重ならないようにしてください。
exec-stale-no-entry = まだ一度も実行していません
exec-stale-mismatch = 凍結された出力がページのブロックと合いません
exec-stale-changed = 凍結後に変わったもの: { $changes }
exec-change-blocks = コードブロック
exec-change-dependencies = exec.dependencies
exec-change-lockfile = Cargo.lock
exec-change-path = `{ $name }` のソース
exec-change-rustc = rustc ({ $version })
exec-change-generator = survey のコード生成
exec-warn-freeze-unchecked = 凍結された出力が最新か確認できません: { $detail }
    .help = survey.yaml の exec の設定と Rust のツールチェーンを確認してください。
exec-warn-unpinned = 依存クレート `{ $name }` は { $lockfile } にないため、バージョンが固定されていません。
    .help = ワークスペースの依存関係に加えてから `cargo update -p { $name }` を実行してください。
exec-warn-invalid-freeze = 凍結された出力を読めないため、ページを実行し直します: { $detail }
exec-warn-stale = コードブロックの出力が最新ではありません ({ $reason })。
    .help = `survey build` で実行し直し、更新した _freeze/ をコミットしてください。
exec-warn-compiler = コードブロックのコンパイルで警告が出ました:
    { $text }
