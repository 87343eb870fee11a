//! Message catalogs: every user-facing CLI message and UI label.
//!
//! The catalogs are Fluent files (`src/i18n/ja.ftl`, `src/i18n/en.ftl`)
//! compiled into the binary. The site's `lang` in `survey.yaml` picks one;
//! a language without a catalog falls back to English. Diagnostics carry a
//! message id and arguments and are localized only when printed.

use std::collections::BTreeMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use unic_langid::LanguageIdentifier;

use crate::diagnostics::Message;

/// Arguments of a message: Fluent variable name and value.
pub type Args = Vec<(&'static str, String)>;

const JA: &str = include_str!("i18n/ja.ftl");
const EN: &str = include_str!("i18n/en.ftl");

/// Ids of the UI labels handed to templates as `labels.<id without ui->`.
pub const UI_LABELS: &[&str] = &[
    "ui-toc",
    "ui-page-toc",
    "ui-bibliography",
    "ui-prev",
    "ui-next",
    "ui-draft",
    "ui-draft-body",
    "ui-authors",
    "ui-original-title",
    "ui-proceedings",
    "ui-unclassified",
    "ui-cited-in",
    "ui-own-section",
    "ui-not-found-title",
    "ui-not-found-body",
    "ui-home",
    "ui-footnotes",
    "ui-footnote-back",
    "ui-skip-to-content",
    "ui-page-nav",
    "ui-site-nav",
    "ui-search",
    "ui-search-label",
    "ui-search-placeholder",
    "ui-search-count",
    "ui-search-none",
    "ui-search-loading",
    "ui-search-failed",
    "ui-search-no-js",
    "ui-feed",
];

/// The languages that have a catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// Maps a BCP 47 tag such as `ja` or `ja-JP` to a catalog language,
    /// falling back to English.
    pub fn from_tag(tag: &str) -> Self {
        let primary = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "ja" => Lang::Ja,
            _ => Lang::En,
        }
    }

    /// Returns the language of the user's locale: the first of `LC_ALL`,
    /// `LC_MESSAGES` and `LANG` that is set (`ja_JP.UTF-8` → Japanese).
    pub fn from_locale() -> Self {
        let tag = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        Self::from_tag(&tag)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Ja => JA,
            Lang::En => EN,
        }
    }

    fn identifier(self) -> LanguageIdentifier {
        let tag = match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        };
        tag.parse().expect("catalog language tags are valid")
    }
}

/// One language's messages, ready to format.
pub struct Catalog {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
    /// English catalog used for ids missing from `bundle`.
    fallback: Option<Box<Catalog>>,
}

impl Catalog {
    pub fn new(lang: Lang) -> Self {
        let fallback = (lang != Lang::En).then(|| Box::new(Catalog::new(Lang::En)));
        let resource = FluentResource::try_new(lang.source().to_string())
            .expect("the built-in catalogs are valid Fluent");
        let mut bundle = FluentBundle::new_concurrent(vec![lang.identifier()]);
        bundle.set_use_isolating(false);
        bundle.add_resource(resource).expect("the built-in catalogs have unique ids");
        Self { lang, bundle, fallback }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// BCP 47 tag of the catalog's language, for `<html lang>`.
    pub fn lang_tag(&self) -> &'static str {
        match self.lang {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// Formats a message without arguments.
    pub fn text(&self, id: &str) -> String {
        self.format_parts(id, None, &[])
            .unwrap_or_else(|| id.to_string())
    }

    pub fn format(&self, message: &Message) -> String {
        self.format_parts(message.id, None, &message.args)
            .unwrap_or_else(|| message.id.to_string())
    }

    /// Formats the attribute `attribute` (such as `.help`) of a message, if
    /// the message has one.
    pub fn format_attribute(&self, message: &Message, attribute: &str) -> Option<String> {
        self.format_parts(message.id, Some(attribute), &message.args)
    }

    /// All UI labels keyed by their id without the `ui-` prefix, with `-`
    /// replaced by `_` so templates can write `labels.page_toc`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        UI_LABELS
            .iter()
            .map(|id| (id.trim_start_matches("ui-").replace('-', "_"), self.text(id)))
            .collect()
    }

    fn format_parts(&self, id: &str, attribute: Option<&str>, args: &[(&'static str, String)]) -> Option<String> {
        let Some(message) = self.bundle.get_message(id) else {
            return self
                .fallback
                .as_ref()
                .and_then(|fallback| fallback.format_parts(id, attribute, args));
        };
        let pattern = match attribute {
            Some(name) => message.get_attribute(name)?.value(),
            None => message.value()?,
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            // Whole numbers are passed as numbers, so that messages can
            // choose plural forms; `007` stays text.
            match value.parse::<i64>() {
                Ok(number) if number.to_string() == *value => fluent_args.set(*name, number),
                _ => fluent_args.set(*name, value.clone()),
            }
        }
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        Some(text.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_from_tag_falls_back_to_english() {
        assert_eq!(Lang::from_tag("ja"), Lang::Ja);
        assert_eq!(Lang::from_tag("ja-JP"), Lang::Ja);
        assert_eq!(Lang::from_tag("fr"), Lang::En);
        assert_eq!(Lang::from_tag("ja_JP.UTF-8"), Lang::Ja);
        assert_eq!(Lang::from_tag("C"), Lang::En);
    }

    #[test]
    fn catalogs_define_every_label() {
        for lang in [Lang::Ja, Lang::En] {
            let catalog = Catalog::new(lang);
            for id in UI_LABELS {
                assert!(catalog.bundle.get_message(id).is_some(), "{lang:?} lacks {id}");
            }
        }
    }

    #[test]
    fn catalogs_define_the_same_ids() {
        let ids = |source: &str| -> Vec<String> {
            let mut ids: Vec<String> = source
                .lines()
                .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .filter_map(|line| line.split(" =").next().map(str::to_string))
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(JA), ids(EN));
    }

    #[test]
    fn japanese_labels_are_japanese() {
        let labels = Catalog::new(Lang::Ja).labels();
        assert_eq!(labels["toc"], "目次");
        assert_eq!(labels["bibliography"], "参考文献");
        assert_eq!(labels["draft"], "執筆中");
    }

    #[test]
    fn arguments_are_substituted_without_isolation_marks() {
        let catalog = Catalog::new(Lang::En);
        let text = catalog.format(&Message::new("did-you-mean").arg("suggestion", "title"));
        assert_eq!(text, "did you mean `title`?");
    }
}
