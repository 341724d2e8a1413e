//! Kafka's JAAS configuration text, as in `sasl.jaas.config`:
//! `<LoginModule class> <flag> key="value" key2=value2;`. Only the options
//! matter here (`username`, `password`, PLAIN's `user_<name>`); the module
//! class says which mechanism the options are for.

use std::collections::BTreeMap;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    #[error("JAAS config entry not terminated by semi-colon")]
    Unterminated,
    #[error("expected a login module name and a control flag")]
    NoModule,
    #[error("invalid control flag {0}")]
    BadFlag(String),
    #[error("unterminated quoted value")]
    UnterminatedQuote,
    #[error("option {0} has no value")]
    NoValue(String),
    #[error("exactly one login module is supported, found {0}")]
    ModuleCount(usize),
}

/// The options of the one login module in `text`.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, JaasError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut modules = parse_all(text)?;
    if modules.len() != 1 {
        return Err(JaasError::ModuleCount(modules.len()));
    }
    Ok(modules.remove(0).1)
}

/// One `module flag options;` entry: the module class and its options.
pub type LoginModule = (String, BTreeMap<String, String>);

/// Every `module flag options;` entry.
pub fn parse_all(text: &str) -> Result<Vec<LoginModule>, JaasError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        skip_ws(&mut chars);
        if chars.peek().is_none() {
            break;
        }
        let module = word(&mut chars);
        skip_ws(&mut chars);
        let flag = word(&mut chars);
        if module.is_empty() || flag.is_empty() {
            return Err(JaasError::NoModule);
        }
        if !["required", "requisite", "sufficient", "optional"]
            .contains(&flag.to_ascii_lowercase().as_str())
        {
            return Err(JaasError::BadFlag(flag));
        }
        let mut options = BTreeMap::new();
        loop {
            skip_ws(&mut chars);
            match chars.peek() {
                None => return Err(JaasError::Unterminated),
                Some(';') => {
                    chars.next();
                    break;
                }
                Some(_) => {}
            }
            let key: String = std::iter::from_fn(|| {
                chars.next_if(|c| *c != '=' && *c != ';' && !c.is_whitespace())
            })
            .collect();
            skip_ws(&mut chars);
            if chars.next_if_eq(&'=').is_none() {
                return Err(JaasError::NoValue(key));
            }
            skip_ws(&mut chars);
            let value = if chars.next_if_eq(&'"').is_some() {
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => return Err(JaasError::UnterminatedQuote),
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(c) = chars.next() {
                                v.push(c);
                            }
                        }
                        Some(c) => v.push(c),
                    }
                }
                v
            } else {
                std::iter::from_fn(|| chars.next_if(|c| *c != ';' && !c.is_whitespace())).collect()
            };
            options.insert(key, value);
        }
        out.push((module, options));
    }
    Ok(out)
}

fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

fn word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != ';')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_examples_parse() {
        let o = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret"
               user_admin="admin-secret" user_alice="alice \"secret\"";"#,
        )
        .unwrap();
        assert_eq!(o["username"], "admin");
        assert_eq!(o["user_alice"], "alice \"secret\"", "backslash escapes a quote");
        assert_eq!(o.len(), 4);
        let o = parse("a.B required username=bob;").unwrap();
        assert_eq!(o["username"], "bob", "unquoted values");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn broken_entries_are_errors() {
        let cases: &[(&str, JaasError)] = &[
            ("m required username=\"x\"", JaasError::Unterminated),
            ("m required username=\"x;", JaasError::UnterminatedQuote),
            ("m always a=b;", JaasError::BadFlag("always".into())),
            ("m required a;", JaasError::NoValue("a".into())),
            ("m;", JaasError::NoModule),
            ("m required; n required;", JaasError::ModuleCount(2)),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text).unwrap_err(), want, "{text}");
        }
    }
}
