//! Local wall-clock times of an export to UTC, in an IANA zone: spring-gap times are errors,
//! and the repeated autumn hour is resolved by file order (the first reading until the clock
//! goes backwards inside the repeated hour, the second reading after that).

use std::collections::BTreeMap;

use jiff::{
    civil::{Date, DateTime},
    tz::{AmbiguousOffset, Offset, TimeZone},
};

/// Converts the wall-clock times of one file, in file order.
#[derive(Debug, Clone)]
pub struct Resolver {
    tz: TimeZone,
    name: String,
    /// Per repeated hour (keyed by its date and offsets): the latest wall time read with the
    /// first offset, and whether the second offset is now in use.
    folds: BTreeMap<(Date, i32, i32), (DateTime, bool)>,
}

/// How one time was converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The time exists once.
    Unique,
    /// The time is in the repeated autumn hour; `second` tells which reading was taken.
    Fold {
        /// True for the later (standard-time) reading.
        second: bool,
    },
}

impl Resolver {
    /// A resolver for the IANA zone `name` (e.g. `Europe/Paris`).
    pub fn new(name: &str) -> Result<Self, String> {
        let tz = jiff::tz::db().get(name).map_err(|_| {
            format!("unknown time zone `{name}`: give an IANA name such as Europe/Paris or America/New_York")
        })?;
        Ok(Self {
            tz,
            name: name.to_owned(),
            folds: BTreeMap::new(),
        })
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Converts the next wall-clock time of the file to UTC milliseconds.
    pub fn resolve(&mut self, wall: DateTime) -> Result<(i64, Reading), String> {
        match self.tz.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Unambiguous { offset } => Ok((millis(offset, wall)?, Reading::Unique)),
            AmbiguousOffset::Gap { .. } => Err(format!(
                "{wall} does not exist in {} (the clocks skipped it for daylight saving time); \
                 check --timezone",
                self.name
            )),
            AmbiguousOffset::Fold { before, after } => {
                let key = (wall.date(), before.seconds(), after.seconds());
                let state = self.folds.entry(key).or_insert((wall, false));
                if !state.1 {
                    if wall < state.0 {
                        state.1 = true;
                    } else {
                        state.0 = wall;
                    }
                }
                let second = state.1;
                let offset = if second { after } else { before };
                Ok((millis(offset, wall)?, Reading::Fold { second }))
            }
        }
    }
}

fn millis(offset: Offset, wall: DateTime) -> Result<i64, String> {
    offset
        .to_timestamp(wall)
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("{wall} is out of range: {e}"))
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::{Reading, Resolver};

    #[test]
    fn ordinary_times_use_the_offset_in_force() {
        let mut r = Resolver::new("Europe/Paris").expect("zone");
        // Winter: UTC+1. 2022-03-18 14:56 → 13:56Z.
        let (ms, reading) = r.resolve(date(2022, 3, 18).at(14, 56, 0, 0)).expect("ok");
        assert_eq!(ms, 1_647_611_760_000);
        assert_eq!(reading, Reading::Unique);
        // Summer: UTC+2. 2023-08-10 23:11:02 → 21:11:02Z.
        let (ms, _) = r.resolve(date(2023, 8, 10).at(23, 11, 2, 0)).expect("ok");
        assert_eq!(ms, 1_691_701_862_000);
    }

    #[test]
    fn a_spring_gap_time_is_an_error() {
        let mut r = Resolver::new("Europe/Paris").expect("zone");
        // 2023-03-26 02:30 does not exist in Paris.
        let e = r
            .resolve(date(2023, 3, 26).at(2, 30, 0, 0))
            .expect_err("gap");
        assert!(e.contains("does not exist in Europe/Paris"), "{e}");
    }

    #[test]
    fn the_repeated_autumn_hour_follows_file_order() {
        let mut r = Resolver::new("Europe/Paris").expect("zone");
        let day = date(2023, 10, 29);
        // 02:10 and 02:50 first as summer time (UTC+2), then 02:05 again: the clock went back,
        // so it and everything after in that hour are winter time (UTC+1).
        let a = r.resolve(day.at(2, 10, 0, 0)).expect("ok");
        let b = r.resolve(day.at(2, 50, 0, 0)).expect("ok");
        let c = r.resolve(day.at(2, 5, 0, 0)).expect("ok");
        let d = r.resolve(day.at(2, 55, 0, 0)).expect("ok");
        assert_eq!(a, (1_698_538_200_000, Reading::Fold { second: false })); // 00:10Z
        assert_eq!(b, (1_698_540_600_000, Reading::Fold { second: false })); // 00:50Z
        assert_eq!(c, (1_698_541_500_000, Reading::Fold { second: true })); // 01:05Z
        assert_eq!(d, (1_698_544_500_000, Reading::Fold { second: true })); // 01:55Z
    }

    #[test]
    fn an_unknown_zone_is_refused_with_an_example() {
        let e = Resolver::new("Paris").expect_err("unknown");
        assert!(e.contains("Europe/Paris"), "{e}");
    }
}
