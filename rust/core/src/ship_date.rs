//! A promised ship date: a calendar day in the shipping location's own time
//! zone. Stored as days since 1970-01-01 (compact in lines and the journal);
//! shown, and written to JSON, as "YYYY-MM-DD".

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShipDate(i32);

/// 1970-01-01 as chrono counts days (from 0001-01-01, day 1).
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

impl ShipDate {
    pub fn from_date(date: NaiveDate) -> Self {
        ShipDate(date.num_days_from_ce() - UNIX_EPOCH_CE_DAYS)
    }

    pub fn date(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0 + UNIX_EPOCH_CE_DAYS)
            .expect("ship dates are made from dates")
    }

    /// "YYYY-MM-DD" (four-digit years only), or None.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !well_formed {
            return None;
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(Self::from_date)
    }

    /// The next calendar day.
    pub fn next(self) -> Self {
        ShipDate(self.0 + 1)
    }
}

impl fmt::Display for ShipDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = self.date();
        write!(
            f,
            "{:04}-{:02}-{:02}",
            date.year(),
            date.month(),
            date.day()
        )
    }
}

impl Serialize for ShipDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ShipDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            ShipDate::parse(&text).ok_or_else(|| D::Error::custom("not a YYYY-MM-DD date"))
        } else {
            let days = i32::deserialize(deserializer)?;
            // Keep within what chrono can represent, so `date()` never fails.
            NaiveDate::from_num_days_from_ce_opt(days.saturating_add(UNIX_EPOCH_CE_DAYS))
                .map(|_| ShipDate(days))
                .ok_or_else(|| D::Error::custom("ship date out of range"))
        }
    }
}
