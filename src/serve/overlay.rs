//! The page shown instead of the site while the last build failed: every
//! problem with its file, line and fix, in the site's language.

use crate::diagnostics::{Diagnostics, Message};
use crate::i18n::Catalog;
use crate::markdown::escape_html;

const STYLE: &str = "\
body{margin:0;font-family:system-ui,sans-serif;background:#1f1f24;color:#f2f2f2}\
main{max-width:60rem;margin:2rem auto;padding:0 1.5rem}\
h1{color:#ff8f8f;font-size:1.4rem}\
ol{padding:0;list-style:none}\
li{background:#2c2c33;border-left:4px solid #ff6b6b;margin:1rem 0;padding:.8rem 1rem;border-radius:4px}\
code{font-family:ui-monospace,monospace;color:#ffd479}\
.message{margin:.4rem 0}\
.help,.hint{color:#c9c9d1;margin:.2rem 0}\
.note{color:#a0a0aa}";

/// Renders the overlay page for the diagnostics of a failed build.
pub(crate) fn render(diagnostics: &Diagnostics, catalog: &Catalog) -> String {
    let title = escape_html(&catalog.format(&Message::new("serve-overlay-title").arg("count", diagnostics.len())));
    let mut items = String::new();
    for diagnostic in diagnostics.iter() {
        items.push_str("<li>");
        items.push_str(&format!("<code class=\"location\">{}</code>", escape_html(&diagnostic.location())));
        items.push_str(&format!("<p class=\"message\">{}</p>", escape_html(&catalog.format(&diagnostic.message))));
        if let Some(help) = catalog.format_attribute(&diagnostic.message, "help") {
            items.push_str(&format!("<p class=\"help\">{}: {}</p>", escape_html(&catalog.text("label-help")), escape_html(&help)));
        }
        if let Some(suggestion) = &diagnostic.suggestion {
            let hint = catalog.format(&Message::new("did-you-mean").arg("suggestion", suggestion));
            items.push_str(&format!("<p class=\"hint\">{}</p>", escape_html(&hint)));
        }
        items.push_str("</li>\n");
    }
    let note = escape_html(&catalog.text("serve-overlay-note"));
    let lang = catalog.lang_tag();
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main class=\"survey-build-error\">\n\
         <h1>{title}</h1>\n<ol>\n{items}</ol>\n<p class=\"note\">{note}</p>\n</main>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostic;
    use crate::i18n::Lang;

    #[test]
    fn overlay_names_location_message_and_fix() {
        let mut diagnostics = Diagnostics::new();
        diagnostics.push(
            Diagnostic::new("content/a.md", Message::new("field-unknown").arg("field", "titel").arg("expected", "`title`"))
                .at(3, Some(1))
                .suggest(Some("title".to_string())),
        );
        let html = render(&diagnostics, &Catalog::new(Lang::Ja));
        assert!(html.contains("<html lang=\"ja\">"));
        assert!(html.contains("content/a.md:3:1"));
        assert!(html.contains("未知のフィールド `titel` があります。"));
        assert!(html.contains("修正方法"));
        assert!(html.contains("もしかして `title` ですか?"));

        let html = render(&diagnostics, &Catalog::new(Lang::En));
        assert!(html.contains("unknown field `titel`"));
    }

    #[test]
    fn overlay_escapes_html() {
        let mut diagnostics = Diagnostics::new();
        diagnostics.push(Diagnostic::new("content/<b>.md", Message::new("cite-unknown").arg("key", "<script>")));
        let html = render(&diagnostics, &Catalog::new(Lang::En));
        assert!(!html.contains("<script>"));
        assert!(html.contains("content/&lt;b&gt;.md"));
    }
}
