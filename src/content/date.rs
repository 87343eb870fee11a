//! Dates written in front matter (`date`, `updated`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};

/// A calendar date (`2021-12-06`) or an RFC 3339 date-time
/// (`2021-12-06T10:00:00+09:00`) from a front-matter header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontMatterDate {
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
}

impl FrontMatterDate {
    /// Parses a date or an RFC 3339 date-time.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(FrontMatterDate::Date(date));
        }
        DateTime::parse_from_rfc3339(text).ok().map(FrontMatterDate::DateTime)
    }

    /// Converts the date to a moment in time; a calendar date becomes
    /// midnight UTC.
    pub fn to_datetime(self) -> DateTime<FixedOffset> {
        match self {
            FrontMatterDate::Date(date) => date.and_time(NaiveTime::MIN).and_utc().fixed_offset(),
            FrontMatterDate::DateTime(moment) => moment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_dates_and_date_times() {
        let date = FrontMatterDate::parse("2021-12-06").unwrap();
        assert_eq!(date.to_datetime().to_rfc3339(), "2021-12-06T00:00:00+00:00");
        let moment = FrontMatterDate::parse("2021-12-06T10:30:00+09:00").unwrap();
        assert_eq!(moment.to_datetime().to_rfc3339(), "2021-12-06T10:30:00+09:00");
    }

    #[test]
    fn parse_rejects_impossible_dates() {
        assert_eq!(FrontMatterDate::parse("2021-13-01"), None);
        assert_eq!(FrontMatterDate::parse("2021-02-30"), None);
        assert_eq!(FrontMatterDate::parse("06/12/2021"), None);
        assert_eq!(FrontMatterDate::parse("2021-12-06 10:00"), None);
    }
}
