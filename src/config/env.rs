//! Environment overrides: `PASSERELLE_SECTION__KEY=value` and `PASSERELLE_SECTION__KEY_FILE=path`.

use serde_norway::{Mapping, Value};

const PREFIX: &str = "PASSERELLE_";
const FILE_SUFFIX: &str = "_FILE";

/// One override, taken from one environment variable.
#[derive(Debug, Clone)]
pub struct Override {
    /// The variable's name, for error messages.
    pub variable: String,
    /// Lower-cased key path, e.g. `["homeserver", "url"]`; numbers index lists.
    pub path: Vec<String>,
    /// The value, parsed as a YAML scalar so `true` and `42` keep their types.
    pub value: Value,
}

/// Collects the overrides among `vars`, reading `_FILE` variables' files.
///
/// Variables without `__` (such as `PASSERELLE_CONFIG`) are not overrides and are ignored.
pub fn collect(vars: impl Iterator<Item = (String, String)>) -> Result<Vec<Override>, String> {
    let mut overrides = Vec::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let (rest, value) = match rest.strip_suffix(FILE_SUFFIX) {
            Some(key) => {
                let text = std::fs::read_to_string(&raw).map_err(|e| {
                    format!("{name}: cannot read the secret file {raw:?}: {e}; fix the path or unset the variable")
                })?;
                (
                    key,
                    Value::String(text.trim_end_matches(['\n', '\r']).to_owned()),
                )
            }
            None => (rest, parse_scalar(&raw)),
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!(
                "{name}: empty key segment; write e.g. PASSERELLE_HOMESERVER__URL"
            ));
        }
        overrides.push(Override {
            variable: name,
            path,
            value,
        });
    }
    overrides.sort_by(|a, b| a.variable.cmp(&b.variable));
    Ok(overrides)
}

/// Booleans, numbers and flow lists (`["@a:x", "@b:x"]`) keep their YAML type; anything
/// else is a string, so a token that happens to look like YAML stays as written.
fn parse_scalar(raw: &str) -> Value {
    match serde_norway::from_str::<Value>(raw) {
        Ok(v @ (Value::Bool(_) | Value::Number(_))) => v,
        Ok(v @ Value::Sequence(_)) if raw.trim_start().starts_with('[') => v,
        _ => Value::String(raw.to_owned()),
    }
}

impl Override {
    /// Sets the value in the document, creating missing mappings on the way.
    pub fn apply(&self, doc: &mut Value) -> Result<(), String> {
        let mut node = doc;
        for (depth, segment) in self.path.iter().enumerate() {
            let last = depth + 1 == self.path.len();
            node = match node {
                Value::Sequence(items) => {
                    let index: usize = segment.parse().map_err(|_| {
                        format!(
                            "{}: `{segment}` must be a list index (0, 1, …)",
                            self.variable
                        )
                    })?;
                    let len = items.len();
                    items.get_mut(index).ok_or_else(|| {
                        format!(
                            "{}: index {index} is past the end of a list of {len}",
                            self.variable
                        )
                    })?
                }
                Value::Null => {
                    *node = Value::Mapping(Mapping::new());
                    descend(node, segment)
                }
                Value::Mapping(_) => descend(node, segment),
                _ => {
                    return Err(format!(
                        "{}: `{}` is not a section and cannot hold `{segment}`",
                        self.variable,
                        self.path[..depth].join(".")
                    ));
                }
            };
            if last {
                *node = self.value.clone();
            }
        }
        Ok(())
    }
}

fn descend<'a>(node: &'a mut Value, key: &str) -> &'a mut Value {
    match node {
        Value::Mapping(map) => map
            .entry(Value::String(key.to_owned()))
            .or_insert(Value::Null),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_norway::Value;

    use super::collect;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn nested_keys_are_lower_cased_and_typed() {
        let o = collect(vars(&[
            ("PASSERELLE_HOMESERVER__URL", "http://hs:8008"),
            ("PASSERELLE_APPSERVICE__RECEIVE_EPHEMERAL", "false"),
            ("PASSERELLE_CONFIG", "ignored"),
            (
                "PASSERELLE_CONNECTORS__0__INBOUND__INVITE",
                "[\"@a:x\", \"@b:x\"]",
            ),
            ("PASSERELLE_APPSERVICE__HS_TOKEN", "- not: a list"),
            ("HOME", "/root"),
        ]))
        .expect("valid overrides");
        assert_eq!(o.len(), 4);
        assert_eq!(o[0].path, ["appservice", "hs_token"]);
        assert_eq!(o[0].value, Value::String("- not: a list".into()));
        assert_eq!(o[1].path, ["appservice", "receive_ephemeral"]);
        assert_eq!(o[1].value, Value::Bool(false));
        assert_eq!(o[2].path, ["connectors", "0", "inbound", "invite"]);
        assert_eq!(
            o[2].value,
            serde_norway::from_str::<Value>("[\"@a:x\", \"@b:x\"]").expect("yaml")
        );
        assert_eq!(o[3].path, ["homeserver", "url"]);
        assert_eq!(o[3].value, Value::String("http://hs:8008".into()));
    }

    #[test]
    fn file_variables_read_the_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").expect("write");
        let o = collect(vars(&[(
            "PASSERELLE_APPSERVICE__AS_TOKEN_FILE",
            file.to_str().expect("utf8"),
        )]))
        .expect("valid overrides");
        assert_eq!(o[0].path, ["appservice", "as_token"]);
        assert_eq!(o[0].value, Value::String("s3cret".into()));
    }

    #[test]
    fn missing_secret_file_names_the_variable() {
        let err = collect(vars(&[(
            "PASSERELLE_APPSERVICE__AS_TOKEN_FILE",
            "/nonexistent/x",
        )]))
        .expect_err("missing file");
        assert!(
            err.contains("PASSERELLE_APPSERVICE__AS_TOKEN_FILE"),
            "{err}"
        );
    }

    #[test]
    fn overrides_reach_into_lists_and_create_sections() {
        let mut doc: Value = serde_norway::from_str("connectors:\n  - type: test\n").expect("yaml");
        for o in collect(vars(&[
            ("PASSERELLE_CONNECTORS__0__ECHO", "true"),
            ("PASSERELLE_DATABASE__PATH", "/var/lib/p.db"),
        ]))
        .expect("valid")
        {
            o.apply(&mut doc).expect("applies");
        }
        assert_eq!(doc["connectors"][0]["echo"], Value::Bool(true));
        assert_eq!(
            doc["database"]["path"],
            Value::String("/var/lib/p.db".into())
        );
    }

    #[test]
    fn out_of_range_index_is_an_error() {
        let mut doc: Value = serde_norway::from_str("connectors: []\n").expect("yaml");
        let o = collect(vars(&[("PASSERELLE_CONNECTORS__3__ECHO", "true")])).expect("valid");
        let err = o[0].apply(&mut doc).expect_err("past the end");
        assert!(err.contains("index 3"), "{err}");
    }
}
