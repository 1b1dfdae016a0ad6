//! The `stack.toml` schema as serde reads it. These doc comments are the reference for every key
//! config knows; a kind's own keys are documented where the kind reads them (`kinds::<kind>`).
//!
//! Every table denies unknown keys, so a misspelt key is an error that points at the key (see
//! `config::source` for how the message is turned into one that names the nearest valid key).
//! A service table is the exception: the keys it does not list are its kind's, and
//! `config::kind_keys` takes them out before serde reads the rest. Values whose validity serde
//! cannot see are `values::Checked`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use super::probe::ReadySection;
use super::values::{Checked, CommandLine, DurationValue, EnvValue, Invalid, PortValue, StopSignal};

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
    /// The trace receiver `up` runs.
    #[serde(default)]
    pub traces: TracesSection,
}

/// `[traces]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TracesSection {
    /// Run the receiver and point every service at it: default true.
    pub enabled: Option<bool>,
    /// Traces kept in memory, the newest; default 1000.
    pub max_traces: Option<Spanned<u64>>,
    /// Memory the kept spans may take, in MiB; default 64.
    pub max_mib: Option<Spanned<u64>>,
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
    /// What the tool knows about this program: the name of a kind (`kinds`), e.g. `litellm`, `mcp`
    /// or `agui`. Optional. The kind may take keys of its own in this table.
    pub kind: Option<Spanned<String>>,
    /// The program and its arguments: a string split like a shell splits words (no shell runs),
    /// or an array. Required unless the service's kind derives it.
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
    pub ready: Option<Spanned<ReadySection>>,
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
    /// For the kinds web pages call (`kinds::Kind::browser_path`; `agui`, `mcp`): this server is
    /// meant to be reached from any web page (it serves
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

/// The keys a serde struct takes, as its derive lists them: serde hands the list to
/// `deserialize_struct`, and this deserializer stops there. A kind lists its keys with it, so the
/// list cannot drift from the struct that reads them.
pub fn keys_of<T: de::DeserializeOwned>() -> &'static [&'static str] {
    struct Lister<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Lister<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("keys listed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut keys: &'static [&'static str] = &[];
    // The error is the stop after the list is taken.
    let _stopped = T::deserialize(Lister(&mut keys));
    keys
}
