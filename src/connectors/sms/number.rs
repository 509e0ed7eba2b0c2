//! Phone numbers: everything a user or a gateway writes is normalised to E.164
//! (`+33612345678`), the form used in ghost ids, the database and the providers.

use std::str::FromStr;

use phonenumber::{Mode, country};

/// A default region (ISO 3166 code such as `FR`) for numbers written without `+country`.
pub(crate) fn region(code: &str) -> Result<country::Id, String> {
    country::Id::from_str(&code.trim().to_ascii_uppercase()).map_err(|_| {
        format!("`{code}` is not a region code: use a two-letter ISO 3166 code such as FR or GB")
    })
}

/// Normalises `input` (`06 12 34 56 78`, `+33 6 12 34 56 78`, `0033612345678`, …) to E.164,
/// reading national numbers in `region`; refuses what is not a valid phone number there.
pub(crate) fn normalise(input: &str, region: country::Id) -> Result<String, String> {
    let trimmed = input.trim();
    let plausible = !trimmed.is_empty()
        && trimmed.len() <= 32
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()/".contains(c));
    if !plausible {
        return Err(format!(
            "`{input}` is not a phone number: write it as +33612345678 or in national form"
        ));
    }
    let number = phonenumber::parse(Some(region), trimmed)
        .map_err(|e| format!("`{input}` is not a phone number ({e})"))?;
    if !number.is_valid() {
        return Err(format!(
            "`{input}` is not a valid phone number (read in region {}); write it with its country code, e.g. +33612345678",
            region.as_ref()
        ));
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::{normalise, region};

    #[test]
    fn national_and_international_forms_become_e164() {
        let fr = region("fr").expect("FR");
        for input in [
            "0612345678",
            "06 12 34 56 78",
            "06.12.34.56.78",
            "+33612345678",
            "+33 6 12 34 56 78",
            "0033612345678",
        ] {
            assert_eq!(
                normalise(input, fr).as_deref(),
                Ok("+33612345678"),
                "{input}"
            );
        }
        // A number with its own country code keeps it, whatever the default region.
        assert_eq!(
            normalise("+44 7911 123456", fr).as_deref(),
            Ok("+447911123456")
        );
        let gb = region("GB").expect("GB");
        assert_eq!(
            normalise("07911 123456", gb).as_deref(),
            Ok("+447911123456")
        );
    }

    #[test]
    fn invalid_numbers_are_refused_with_a_reason() {
        let fr = region("FR").expect("FR");
        for input in [
            "",
            "abc",
            "12",
            "+33 6 12",
            "alice@example.org",
            "+999123456789",
        ] {
            let e = normalise(input, fr).expect_err(input);
            assert!(e.contains("phone number"), "{input}: {e}");
        }
    }

    #[test]
    fn unknown_regions_are_refused() {
        assert!(region("XX").is_err());
        assert!(region("France").is_err());
    }
}
