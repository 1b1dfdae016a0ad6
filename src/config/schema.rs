//! The `stack.toml` schema as serde reads it. These doc comments are the reference for every key.
//!
//! Every table denies unknown keys, so a misspelt key is an error that points at the key (see
//! `config::source` for how the message is turned into one that names the nearest valid key).
//! Values whose validity serde cannot see (a duration, a signal, a command) are parsed here, inside
//! deserialization, into a `Checked` value that keeps what was wrong (message and hint) as fields,
//! next to the value's span; `config::load` reports the first invalid one. Nothing is smuggled
//! through serde's error strings.

use std::time::Duration;

use indexmap::IndexMap;
use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// Settings of the stack as a whole.
    #[serde(default)]
    pub stack: StackSection,
    /// The services, by name, in the order they are declared.
    #[serde(default)]
    pub services: IndexMap<String, Spanned<ServiceSection>>,
    /// Custom smoke checks run by `agui-dev smoke` after the built-in ones.
    #[serde(default)]
    pub smoke: Vec<Spanned<SmokeSection>>,
    /// The dev console `up` serves in the browser.
    #[serde(default)]
    pub console: ConsoleSection,
}

/// `[console]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// Serve the console: default true, except when `CI` is set (then only when this says true).
    pub enabled: Option<bool>,
    /// Its port on 127.0.0.1: a number (taken: `up` stops with the holder named) or `"auto"`.
    /// Default 4400, or a free port when 4400 is taken.
    pub port: Option<Spanned<Checked<PortValue>>>,
}

/// `[stack]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StackSection {
    /// Display name; default: the name of the folder holding the stack file.
    pub name: Option<String>,
    /// Dotenv files loaded in order for every service; the process environment wins over them.
    #[serde(default)]
    pub env_files: Vec<Spanned<String>>,
}

/// `[services.NAME]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// What the tool knows about this program: `litellm`, `mcp` or `agui`. Optional.
    pub kind: Option<Spanned<KindName>>,
    /// The program and its arguments: a string split like a shell splits words (no shell runs),
    /// or an array. Required unless `kind = "litellm"` derives it.
    pub command: Option<Spanned<Checked<CommandLine>>>,
    /// Working folder, relative to the stack file. Default: the stack file's folder.
    pub cwd: Option<Spanned<String>>,
    /// Extra environment. Values may use `${VAR}`, `${VAR:-default}` and `${services.NAME.port}`.
    #[serde(default)]
    pub env: IndexMap<String, Spanned<EnvValue>>,
    /// Dotenv files for this service, loaded after the stack's; the process environment wins.
    #[serde(default)]
    pub env_files: Vec<Spanned<String>>,
    /// The port the service listens on: checked free before start, exported as `PORT`. `"auto"`
    /// picks a free one when the stack starts (kept across reloads), so two copies of a stack run
    /// side by side; `${services.NAME.port}` and the kinds' wiring see the chosen number.
    pub port: Option<Spanned<Checked<PortValue>>>,
    /// How to tell that the service is ready. Default: the kind's probe, else a TCP connect to
    /// `port`, else ready as soon as it is started.
    pub ready: Option<Spanned<super::probe::ReadySection>>,
    /// Services that must be ready before this one starts.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// A one-shot job (a migration, a code generator, `npm run build`): it runs to completion,
    /// its dependents start when it exits 0, and that exit does not stop the stack.
    #[serde(default)]
    pub task: Option<Spanned<bool>>,
    /// Globs (relative to `cwd`) of files whose change restarts the service while `up` runs,
    /// e.g. `["src/**/*.py"]`.
    #[serde(default)]
    pub watch: Vec<Spanned<String>>,
    /// Globs (relative to `cwd`) of files whose change never restarts the service, on top of the
    /// built-in excludes (`node_modules`, `.venv`, `.git`, `.agui-dev`, `dist`, `__pycache__`).
    #[serde(default)]
    pub watch_ignore: Vec<Spanned<String>>,
    /// `"no"` (default), `"on-failure"` or `"always"`.
    pub restart: Option<Restart>,
    /// How many times a service is restarted before the stack gives up on it. Default 5.
    pub max_restarts: Option<u32>,
    /// The signal sent to the service's process group to stop it. Default `"SIGTERM"`.
    pub stop_signal: Option<Spanned<Checked<StopSignal>>>,
    /// How long to wait after `stop_signal` before SIGKILL. Default `"5s"`.
    pub stop_grace: Option<Spanned<Checked<DurationValue>>>,
    /// `kind = "litellm"`: the virtual environment holding LiteLLM. Default `".venv"`.
    pub venv: Option<Spanned<String>>,
    /// `kind = "litellm"`: the proxy config file (`--config`).
    pub config: Option<Spanned<String>>,
    /// `kind = "litellm"`: a single model instead of a config (`--model`).
    pub model: Option<Spanned<String>>,
    /// `kind = "litellm"`: the address the proxy binds. Default `"127.0.0.1"`.
    pub host: Option<Spanned<String>>,
    /// `kind = "agui"` or `"mcp"`: this server is meant to be reached from any web page (it serves
    /// the public web), so doctor and smoke skip their foreign-`Origin` and foreign-`Host` probes
    /// for it and say so. Default false.
    pub public: Option<Spanned<bool>>,
}

/// `[[smoke]]`: a custom smoke check.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SmokeSection {
    /// Shown in reports.
    pub name: String,
    /// HTTP check: the URL to request.
    pub url: Option<String>,
    /// HTTP check: the method. Default `GET`, or `POST` when `body` is set.
    pub method: Option<String>,
    /// HTTP check: the request body (sent as JSON when it parses as JSON).
    pub body: Option<String>,
    /// HTTP check: the expected status. Default: any 2xx.
    pub expect_status: Option<u16>,
    /// HTTP check: a text the response body must contain.
    pub expect_body_contains: Option<String>,
    /// Command check: a command that must exit 0.
    pub exec: Option<Spanned<Checked<CommandLine>>>,
    /// Default `"30s"`.
    pub timeout: Option<Spanned<Checked<DurationValue>>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    Litellm,
    Mcp,
    Agui,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    #[default]
    #[serde(rename = "no")]
    No,
    #[serde(rename = "on-failure")]
    OnFailure,
    #[serde(rename = "always")]
    Always,
}

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

impl StackFile {
    /// The first value (in file order) that parsed but is not valid, with its span.
    pub fn first_invalid(&self) -> Option<(std::ops::Range<usize>, &Invalid)> {
        fn add<'a, T>(out: &mut Vec<(std::ops::Range<usize>, &'a Invalid)>, value: Option<&'a Spanned<Checked<T>>>) {
            if let Some(invalid) = value.and_then(|v| v.get_ref().invalid().map(|i| (v.span(), i))) {
                out.push(invalid);
            }
        }
        let mut found = Vec::new();
        for service in self.services.values().map(Spanned::get_ref) {
            add(&mut found, service.command.as_ref());
            add(&mut found, service.port.as_ref());
            add(&mut found, service.stop_signal.as_ref());
            add(&mut found, service.stop_grace.as_ref());
            if let Some(ready) = service.ready.as_ref().map(Spanned::get_ref) {
                add(&mut found, ready.exec.as_ref());
                add(&mut found, ready.timeout.as_ref());
            }
        }
        add(&mut found, self.console.port.as_ref());
        for check in self.smoke.iter().map(Spanned::get_ref) {
            add(&mut found, check.exec.as_ref());
            add(&mut found, check.timeout.as_ref());
        }
        found.into_iter().min_by_key(|(span, _)| span.start)
    }
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
