//! WhatsApp message headers: the date, time and separator that start a message, in the iOS
//! (`[DATE, TIME] `) and Android (`DATE, TIME - `) styles.

use std::sync::LazyLock;

use regex::Regex;

/// Which family of header a line uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `[18/03/2022, 14:56:01] Author: text`
    Ios,
    /// `18/03/2022, 14:56 - Author: text`
    Android,
}

/// A header as written, before the date order is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub(crate) style: Style,
    /// The three date fields in written order, with their digit counts.
    pub(crate) fields: [(u32, usize); 3],
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    /// `Some(true)` for PM, `Some(false)` for AM, `None` on a 24-hour clock.
    pub(crate) pm: Option<bool>,
    /// Everything after the separator.
    pub(crate) rest: &'a str,
}

/// `␠`: the spaces WhatsApp puts in headers (space, NBSP, narrow NBSP, thin space).
macro_rules! sp {
    () => {
        r"[ \x{A0}\x{202F}\x{2009}]"
    };
}

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = concat!(
        r"^(\[)?([0-9]{1,4})[./-]([0-9]{1,2})[./-]([0-9]{1,4}),?",
        sp!(),
        r"(?:(?:à|klo)",
        sp!(),
        r")?([0-9]{1,2})[:.]([0-9]{2})(?:[:.]([0-9]{2}))?(?:",
        sp!(),
        r"*([AaPp])\.?",
        sp!(),
        r"?[Mm]\.?)?(?:(\])",
        sp!(),
        "|",
        sp!(),
        "-",
        sp!(),
        ")"
    );
    Regex::new(pattern).unwrap_or_else(|e| panic!("the header pattern is valid: {e}"))
});

/// Strips the LRM/RLM marks that may start a line or a body.
pub(crate) fn strip_marks(s: &str) -> &str {
    s.trim_start_matches(['\u{200E}', '\u{200F}'])
}

/// Reads a header at the start of `line`, if there is one.
pub(crate) fn parse(line: &str) -> Option<Header<'_>> {
    let line = strip_marks(line);
    let caps = HEADER.captures(line)?;
    let open = caps.get(1).is_some();
    let close = caps.get(9).is_some();
    if open != close {
        return None;
    }
    let num = |i: usize| -> Option<(u32, usize)> {
        let m = caps.get(i)?;
        Some((m.as_str().parse().ok()?, m.as_str().len()))
    };
    let whole = caps.get(0)?;
    Some(Header {
        style: if open { Style::Ios } else { Style::Android },
        fields: [num(2)?, num(3)?, num(4)?],
        hour: num(5)?.0,
        minute: num(6)?.0,
        second: num(7).map_or(0, |n| n.0),
        pm: caps.get(8).map(|m| m.as_str().eq_ignore_ascii_case("p")),
        rest: &line[whole.end()..],
    })
}

#[cfg(test)]
mod tests {
    use super::{Style, parse};

    /// (line, style, fields, hour, minute, second, pm, rest)
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    const SHAPES: &[(&str, Style, [u32; 3], u32, u32, u32, Option<bool>, &str)] = &[
        ("18/03/2022, 14:56 - Dmitry S: Hello", Style::Android, [18, 3, 2022], 14, 56, 0, None, "Dmitry S: Hello"),
        ("1/4/23, 7:02\u{202F}PM - Ann: hi", Style::Android, [1, 4, 23], 7, 2, 0, Some(true), "Ann: hi"),
        ("09/10/2023, 11:11\u{202F}am - +44 7700 900123: <Media omitted>", Style::Android, [9, 10, 2023], 11, 11, 0, Some(false), "+44 7700 900123: <Media omitted>"),
        ("2023-12-20, 5:46 p.m. - Bo: x", Style::Android, [2023, 12, 20], 5, 46, 0, Some(true), "Bo: x"),
        ("2023/12/20, 5:46 pm - Bo: x", Style::Android, [2023, 12, 20], 5, 46, 0, Some(true), "Bo: x"),
        ("03.08.21, 12:30 - Jan: Hallo", Style::Android, [3, 8, 21], 12, 30, 0, None, "Jan: Hallo"),
        ("18.03.22 14:56 - Petr: Ahoj", Style::Android, [18, 3, 22], 14, 56, 0, None, "Petr: Ahoj"),
        ("18-03-2022 14:56 - Piet: Hoi", Style::Android, [18, 3, 2022], 14, 56, 0, None, "Piet: Hoi"),
        ("26/09/2019 à 22:39 - Zoé: Salut", Style::Android, [26, 9, 2019], 22, 39, 0, None, "Zoé: Salut"),
        ("02.05.18 à 18:00 - Luc: Salut", Style::Android, [2, 5, 18], 18, 0, 0, None, "Luc: Salut"),
        ("23/06/2018, 01:55 p.m. - Ana: Hola", Style::Android, [23, 6, 2018], 1, 55, 0, Some(true), "Ana: Hola"),
        ("20/6/2017 8:28 p.\u{A0}m. - Ana: Hola", Style::Android, [20, 6, 2017], 8, 28, 0, Some(true), "Ana: Hola"),
        ("[3/27/22, 21:41:35] Dmitry S: Hi", Style::Ios, [3, 27, 22], 21, 41, 35, None, "Dmitry S: Hi"),
        ("[14/10/2021, 3:34:09\u{202F}PM] Kim: ok", Style::Ios, [14, 10, 2021], 3, 34, 9, Some(true), "Kim: ok"),
        ("[05.08.23, 5:52:02 PM] Hana: hi", Style::Ios, [5, 8, 23], 5, 52, 2, Some(true), "Hana: hi"),
        ("[3/18/22 14:56:00] Elon Musk: Salut", Style::Ios, [3, 18, 22], 14, 56, 0, None, "Elon Musk: Salut"),
        ("[12.3.2022 klo 14.08.18] Aino: Moi", Style::Ios, [12, 3, 2022], 14, 8, 18, None, "Aino: Moi"),
        ("2019/01/01, 11:25 - Al: x", Style::Android, [2019, 1, 1], 11, 25, 0, None, "Al: x"),
        ("[2018/06/13, 21:25:15] a: m", Style::Ios, [2018, 6, 13], 21, 25, 15, None, "a: m"),
        ("[06.13.18 21:25:15] a: m", Style::Ios, [6, 13, 18], 21, 25, 15, None, "a: m"),
        ("\u{200E}[3/27/22, 21:41:55] Dmitry S: \u{200E}image omitted", Style::Ios, [3, 27, 22], 21, 41, 55, None, "Dmitry S: \u{200E}image omitted"),
    ];

    #[test]
    fn every_header_shape_of_the_reference_is_read() {
        for (line, style, fields, hour, minute, second, pm, rest) in SHAPES {
            let h = parse(line).unwrap_or_else(|| panic!("no header in {line:?}"));
            assert_eq!(h.style, *style, "{line:?}");
            assert_eq!(h.fields.map(|f| f.0), *fields, "{line:?}");
            assert_eq!(
                (h.hour, h.minute, h.second, h.pm),
                (*hour, *minute, *second, *pm),
                "{line:?}"
            );
            assert_eq!(h.rest, *rest, "{line:?}");
        }
    }

    #[test]
    fn the_separator_is_mandatory() {
        // False headers inside bodies (reference 1.7).
        for line in [
            "2016-04-29 10:30:00",
            "18/03/2022, 14:56 the meeting moved",
            "18/03/2022, 14:56: Dmitry S: hello",
            "[3/27/22, 21:41:35 Dmitry S: unclosed",
            "3/27/22, 21:41:35] Dmitry S: unopened",
            "3/24/14, 1:59:59 PM: Sender: legacy shape",
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
    }
}
