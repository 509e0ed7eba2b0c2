//! Date order of a WhatsApp transcript (day/month or month/day), detected from all its
//! headers: a field above 12, then a field going down within a year, then the field that
//! changes more often is the day.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};

use super::header::Header;

/// The order of the day and month fields when the year comes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// `18/03/2022`
    Dmy,
    /// `3/18/22`
    Mdy,
}

impl fmt::Display for DateOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dmy => "day/month/year",
            Self::Mdy => "month/day/year",
        })
    }
}

impl std::str::FromStr for DateOrder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "dmy" => Ok(Self::Dmy),
            "mdy" => Ok(Self::Mdy),
            _ => Err(format!("date order `{s}`: use dmy or mdy")),
        }
    }
}

/// Detects the order from the `(first, second, year)` fields of every header, in file order.
/// Returns the order and, when nothing decided it for certain, a sentence for the report.
pub(crate) fn detect(fields: &[(u32, u32, u32)]) -> (DateOrder, Option<String>) {
    let first_big = fields.iter().any(|f| f.0 > 12);
    let second_big = fields.iter().any(|f| f.1 > 12);
    match (first_big, second_big) {
        (true, false) => return (DateOrder::Dmy, None),
        (false, true) => return (DateOrder::Mdy, None),
        (true, true) => {
            return (
                DateOrder::Dmy,
                Some("date order: both date fields go above 12, so the dates are inconsistent; read as day/month/year, pass --date-order if wrong".to_owned()),
            );
        }
        (false, false) => {}
    }
    // A field that goes down while the year stays is the day; otherwise the busier field is.
    let (mut first_down, mut second_down, mut first_changes, mut second_changes) = (0, 0, 0, 0);
    for pair in fields.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.2 != b.2 {
            continue;
        }
        first_down += usize::from(b.0 < a.0);
        second_down += usize::from(b.1 < a.1);
        first_changes += usize::from(b.0 != a.0);
        second_changes += usize::from(b.1 != a.1);
    }
    let order = if first_down != second_down {
        if first_down > second_down {
            DateOrder::Dmy
        } else {
            DateOrder::Mdy
        }
    } else if second_changes > first_changes {
        DateOrder::Mdy
    } else {
        DateOrder::Dmy
    };
    (
        order,
        Some(format!(
            "date order: no date field goes above 12, so the order is a guess: read as {order}; \
             check a few dates and pass --date-order dmy or --date-order mdy if wrong"
        )),
    )
}

/// The wall-clock time of a header under `order`; `None` if it is not a real date and time.
pub(crate) fn wall_time(h: &Header<'_>, order: DateOrder) -> Option<DateTime> {
    let [(a, a_len), (b, _), (c, c_len)] = h.fields;
    let (year, month, day) = if a_len == 4 {
        (a, b, c)
    } else {
        let year = match c_len {
            2 => 2000 + c,
            4 => c,
            _ => return None,
        };
        match order {
            DateOrder::Dmy => (year, b, a),
            DateOrder::Mdy => (year, a, b),
        }
    };
    let hour = match h.pm {
        None => h.hour,
        Some(_) if h.hour == 0 || h.hour > 12 => return None,
        Some(true) if h.hour == 12 => 12,
        Some(true) => h.hour + 12,
        Some(false) if h.hour == 12 => 0,
        Some(false) => h.hour,
    };
    let day = Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    let time = Time::new(
        i8::try_from(hour).ok()?,
        i8::try_from(h.minute).ok()?,
        i8::try_from(h.second).ok()?,
        0,
    )
    .ok()?;
    Some(day.to_datetime(time))
}

#[cfg(test)]
mod tests {
    use super::{DateOrder, detect};

    #[test]
    fn a_field_above_12_decides() {
        assert_eq!(detect(&[(1, 2, 22), (18, 3, 22)]), (DateOrder::Dmy, None));
        assert_eq!(detect(&[(3, 27, 22), (3, 28, 22)]), (DateOrder::Mdy, None));
    }

    #[test]
    fn a_field_going_down_within_a_year_is_the_day() {
        // 10/1, 11/1, 2/2 (d/m): the first field goes down from 11 to 2 while the year stays.
        let (order, note) = detect(&[(10, 1, 23), (11, 1, 23), (2, 2, 23)]);
        assert_eq!(order, DateOrder::Dmy);
        assert!(note.is_some_and(|n| n.contains("guess")));
        let (order, _) = detect(&[(1, 10, 23), (1, 11, 23), (2, 2, 23)]);
        assert_eq!(order, DateOrder::Mdy);
    }

    #[test]
    fn otherwise_the_busier_field_is_the_day() {
        let (order, _) = detect(&[(1, 5, 23), (1, 6, 23), (1, 7, 23)]);
        assert_eq!(order, DateOrder::Mdy);
        let (order, _) = detect(&[(5, 1, 23), (6, 1, 23), (7, 1, 23)]);
        assert_eq!(order, DateOrder::Dmy);
    }
}
