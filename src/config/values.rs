//! The values of `stack.toml` whose validity serde cannot see (a command, a port, a duration, a
//! signal), parsed inside deserialization into a `Checked` value that keeps what was wrong (message
//! and hint) as fields, next to the value's span; `config::load` reports the first invalid one
//! (`StackFile::first_invalid`). Nothing is smuggled through serde's error strings.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// A value that parsed as TOML but may not be valid for its key: the value, or what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked<T> {
    Valid(T),
    Invalid(Invalid),
}

/// What is wrong with a value, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub hint: &'static str,
}

impl<T> Checked<T> {
    pub fn valid(&self) -> Option<&T> {
        match self {
            Checked::Valid(value) => Some(value),
            Checked::Invalid(_) => None,
        }
    }

    pub fn invalid(&self) -> Option<&Invalid> {
        match self {
            Checked::Valid(_) => None,
            Checked::Invalid(invalid) => Some(invalid),
        }
    }

    fn from_result(result: Result<T, Invalid>) -> Self {
        result.map_or_else(Checked::Invalid, Checked::Valid)
    }
}

/// The value of a checked key, when it is set (invalid ones were reported by `load`).
pub fn valid<T>(value: Option<&Spanned<Checked<T>>>) -> Option<&T> {
    value.and_then(|v| v.get_ref().valid())
}

/// A command: `"npm run dev"` (split like a shell splits words) or `["npm", "run", "dev"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine(pub Vec<String>);

impl<'de> Deserialize<'de> for Checked<CommandLine> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = Checked<CommandLine>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Checked::from_result(
                    shell_words::split(text)
                        .map_err(|_| Invalid {
                            message: format!("command `{text}` has an unclosed quote"),
                            hint: "close the quote, or write the command as an array of strings",
                        })
                        .and_then(non_empty),
                ))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut words = Vec::new();
                while let Some(word) = seq.next_element::<String>()? {
                    words.push(word);
                }
                Ok(Checked::from_result(non_empty(words)))
            }
        }
        fn non_empty(words: Vec<String>) -> Result<CommandLine, Invalid> {
            if words.is_empty() {
                Err(Invalid {
                    message: "the command is empty".to_owned(),
                    hint: "name the program to run, e.g. \"npm run dev\"",
                })
            } else {
                Ok(CommandLine(words))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

/// A port: a number, or `"auto"` for a free one chosen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortValue {
    Fixed(u16),
    Auto,
}

impl<'de> Deserialize<'de> for Checked<PortValue> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl Visitor<'_> for PortVisitor {
            type Value = Checked<PortValue>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a port number or \"auto\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Checked::from_result(u16::try_from(v).ok().filter(|p| *p != 0).map(PortValue::Fixed).ok_or_else(
                    || Invalid {
                        message: format!("port {v} is not between 1 and 65535"),
                        hint: "give the port the service listens on (1-65535), or \"auto\" for a free one",
                    },
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Checked::from_result(if v == "auto" {
                    Ok(PortValue::Auto)
                } else {
                    Err(Invalid {
                        message: format!("port `{v}` is neither a number nor \"auto\""),
                        hint: "write a number such as 3000 (no quotes), or \"auto\" for a free port chosen at start",
                    })
                }))
            }
        }
        deserializer.deserialize_any(PortVisitor)
    }
}

/// An environment value: a string, or a number or boolean written bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue(pub String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvVisitor;
        impl Visitor<'_> for EnvVisitor {
            type Value = EnvValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
        }
        deserializer.deserialize_any(EnvVisitor)
    }
}

/// A duration written `"250ms"`, `"5s"`, `"2m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for Checked<DurationValue> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Checked::from_result(humantime::parse_duration(text.trim()).map(DurationValue).map_err(|_| Invalid {
            message: format!("invalid duration `{text}`"),
            hint: "write a duration like \"250ms\", \"5s\" or \"2m\"",
        })))
    }
}

/// A signal written `"SIGTERM"`, `"TERM"` or `"15"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal(pub Signal);

impl<'de> Deserialize<'de> for Checked<StopSignal> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Checked::from_result(parse_signal(&text).map(StopSignal).ok_or_else(|| Invalid {
            message: format!("unknown signal `{text}`"),
            hint: "use a signal name such as \"SIGTERM\", \"SIGINT\", \"SIGQUIT\" or \"SIGHUP\"",
        })))
    }
}

fn parse_signal(text: &str) -> Option<Signal> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse().ok()
}
