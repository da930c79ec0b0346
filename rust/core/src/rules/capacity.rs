//! A location's daily pick capacity and carrier cutoff, in its own time
//! zone: what turns an allocation's decision time into a promised ship date.

use chrono::{DateTime, NaiveTime, Timelike};
use chrono_tz::Tz;

use crate::ship_date::ShipDate;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationCapacity {
    pub time_zone: Tz,
    /// Units the location can pick per local day; None: unlimited.
    pub daily_pick_units: Option<u64>,
    /// Local time from which an allocation misses today's carrier and ships
    /// the next day; None: everything ships the day it is allocated.
    pub cutoff: Option<NaiveTime>,
}

impl LocationCapacity {
    /// The local day an allocation decided at `now` (unix ms) ships: today
    /// before the cutoff, the next day from the cutoff on.
    pub fn promised_date(&self, now: i64) -> ShipDate {
        let utc = DateTime::from_timestamp_millis(now)
            .expect("decision times are validated to lie between 1970 and 9999");
        let local = utc.with_timezone(&self.time_zone);
        let today = ShipDate::from_date(local.date_naive());
        match self.cutoff {
            Some(cutoff) if local.time() >= cutoff => today.next(),
            _ => today,
        }
    }

    /// The cutoff as written in the rule set ("HH:MM"), or "" for none.
    pub fn cutoff_text(&self) -> String {
        self.cutoff
            .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
            .unwrap_or_default()
    }
}
