//! The keys of `[services.NAME]` that belong to the service's kind. `config` sits below `kinds`
//! and cannot name them, so the registered kinds come in as a `Kinds` (which `kinds` implements
//! and `kinds::load` passes). Config takes every key its schema does not list out of the service
//! table before serde reads it (`take`): each must be a key of some kind (else `unknown key`, with
//! the nearest one), and `kind` must name one (else `unknown value`). While it loads the service
//! (`read`), a key of another kind names that kind, and the service's kind reads its own keys
//! (`Kinds::read`: types, `${...}`, its own rules) into `KindKeys`, which config carries in the
//! `Service` without knowing what is inside.

use std::any::Any;
use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::schema::{ServiceSection, keys_of};
use super::source::Source;
use crate::error::{Error, Result};

/// A kind's name, as `kind = "..."` writes it. Which names exist is the kinds' to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindName(&'static str);

impl KindName {
    pub const fn new(name: &'static str) -> Self {
        KindName(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A registered kind as config sees it: its name and the keys it adds to a service table.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub name: KindName,
    pub keys: &'static [&'static str],
}

/// What config asks of the registered kinds while it loads a stack.
pub trait Kinds {
    /// Every kind, in the order hints list them.
    fn all(&self) -> Vec<KindInfo>;

    /// Reads one service's kind keys (only keys of its kind are left in `table`) and checks
    /// what depends on the kind (`public`): what the kind keeps of them, or a located error.
    fn read(&self, table: &KindTable<'_>) -> Result<KindKeys>;
}

/// What a service's kind read from its keys. Config carries it without knowing its type; the kind
/// gets it back with `get`.
#[derive(Default)]
pub struct KindKeys(Option<Box<dyn Any + Send + Sync>>);

impl KindKeys {
    pub fn new(keys: impl Any + Send + Sync) -> Self {
        KindKeys(Some(Box::new(keys)))
    }

    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref()?.downcast_ref::<T>()
    }
}

/// One service's table as its kind reads it.
pub struct KindTable<'a> {
    pub service: &'a str,
    pub kind: Option<KindName>,
    /// The stack file's folder: relative paths start here.
    pub dir: &'a Path,
    pub source: &'a Source,
    /// `public`, as written.
    pub public: Option<&'a Spanned<bool>>,
    keys: &'a Spanned<DeTable<'a>>,
    expand: &'a dyn Fn(&str, &Range<usize>) -> Result<String>,
}

impl KindTable<'_> {
    /// The kind's keys as its serde struct reads them. Spans are kept (`Spanned` fields work),
    /// and a wrong type is an error naming the file, line and key, as for every other key.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(toml::de::Deserializer::from(self.keys.clone())).map_err(|err| self.source.from_toml(&err))
    }

    /// A value with its `${...}` expanded, as in every other key.
    pub fn expand(&self, value: &Spanned<String>) -> Result<String> {
        (self.expand)(value.get_ref(), &value.span())
    }

    /// An error located at `span` in the stack file.
    pub fn error(&self, span: &Range<usize>, message: impl std::fmt::Display) -> Error {
        self.source.error(span, message)
    }
}

/// The kind keys of every service, taken out of their tables by `take`.
#[derive(Default)]
pub(super) struct Taken<'a> {
    services: IndexMap<String, TakenService<'a>>,
}

struct TakenService<'a> {
    /// `None` also when `kind` is not a kind's name (that error is `take`'s).
    kind: Option<KindName>,
    keys: Spanned<DeTable<'a>>,
}

/// Takes the keys config's schema does not list out of every service table of `doc`, and checks
/// that each is some kind's key and that `kind` names a kind. The first error comes back with
/// where it starts, for the caller to weigh against serde's (what is not a table is left to serde).
pub(super) fn take<'a>(
    doc: &mut DeTable<'a>,
    source: &Source,
    kinds: &[KindInfo],
) -> (Taken<'a>, Option<(usize, Error)>) {
    let mut taken = Taken::default();
    let mut errors: Vec<(usize, Error)> = Vec::new();
    let Some(DeValue::Table(services)) = doc.get_mut("services").map(Spanned::get_mut) else { return (taken, None) };
    let own = keys_of::<ServiceSection>();
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    for (name, table) in services.iter_mut() {
        let span = table.span();
        let DeValue::Table(table) = table.get_mut() else { continue };
        let written = table.get("kind").and_then(|k| Some((k.span(), k.get_ref().as_str()?)));
        let kind = written.as_ref().and_then(|(_, word)| kinds.iter().find(|k| k.name.as_str() == *word));
        if let (Some((at, word)), None) = (&written, kind) {
            errors.push((at.start, source.unknown_value(at, word, &names)));
        }
        let others: Vec<Spanned<std::borrow::Cow<'a, str>>> =
            table.keys().filter(|key| !own.contains(&key.get_ref().as_ref())).cloned().collect();
        let mut keys = DeTable::new();
        for key in others {
            let Some((key, value)) = table.remove_entry(key.get_ref().as_ref()) else { continue };
            let word = key.get_ref().as_ref();
            if !kinds.iter().any(|k| k.keys.contains(&word)) {
                // As serde would say it: the nearest of every key a service can take, and the
                // list of those this one can.
                let near: Vec<&str> = own.iter().chain(kinds.iter().flat_map(|k| k.keys)).copied().collect();
                let valid: Vec<&str> = own.iter().chain(kind.map_or(&[][..], |k| k.keys)).copied().collect();
                errors.push((key.span().start, source.unknown_key(&key.span(), word, &near, &valid)));
            }
            keys.insert(key, value);
        }
        let kind = kind.map(|k| k.name);
        taken.services.insert(name.get_ref().to_string(), TakenService { kind, keys: Spanned::new(span, keys) });
    }
    (taken, errors.into_iter().min_by_key(|(at, _)| *at))
}

/// What the loader knows of a service when its kind reads its keys.
pub(super) struct Service<'a> {
    pub name: &'a str,
    pub dir: &'a Path,
    pub source: &'a Source,
    pub public: Option<&'a Spanned<bool>>,
    pub expand: &'a dyn Fn(&str, &Range<usize>) -> Result<String>,
}

/// The service's kind and what it read from its keys, once every key left is its kind's (a key of
/// another kind is an error that names that kind).
pub(super) fn read(
    kinds: &dyn Kinds,
    all: &[KindInfo],
    taken: &Taken<'_>,
    service: &Service<'_>,
) -> Result<(Option<KindName>, KindKeys)> {
    let empty = Spanned::new(0..0, DeTable::new());
    let (kind, keys) = taken.services.get(service.name).map_or((None, &empty), |t| (t.kind, &t.keys));
    let own: &[&str] = all.iter().find(|k| Some(k.name) == kind).map_or(&[], |k| k.keys);
    for (key, value) in keys.get_ref() {
        let key = key.get_ref().as_ref();
        if own.contains(&key) {
            continue;
        }
        if let Some(owner) = all.iter().find(|k| k.keys.contains(&key)) {
            let name = service.name;
            return Err(service
                .source
                .error(&value.span(), format!("`services.{name}.{key}` is only for `kind = \"{}\"`", owner.name))
                .hint(format!("remove `{key}`, or set `kind = \"{}\"` on this service", owner.name)));
        }
    }
    let table = KindTable {
        service: service.name,
        kind,
        dir: service.dir,
        source: service.source,
        public: service.public,
        keys,
        expand: service.expand,
    };
    Ok((kind, kinds.read(&table)?))
}
