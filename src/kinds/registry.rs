//! The registered kinds: the built-in ones (`super::builtin`) and any a program adds with
//! `register` (the toy kind of `tests/kinds.rs`), both through `Registry::add`. A stack file is
//! read with them (`load`): config, which cannot name the kinds, asks them through
//! `config::Kinds` which keys a service may have and has the service's kind read its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{LazyLock, PoisonError, RwLock};

use super::Kind;
use crate::config::{self, KindInfo, KindKeys, KindName, KindTable, Stack};
use crate::error::{Error, Result};

/// The kinds in registration order: the order their wiring is worked out and hints list them.
#[derive(Default)]
pub struct Registry {
    kinds: Vec<&'static dyn Kind>,
}

impl Registry {
    /// Adds a kind: its name must be new and written like `litellm` (lower-case letters, digits,
    /// `-`), and each of its keys must be free, neither config's nor another kind's, so a key
    /// always has one owner to name in errors.
    pub fn add(&mut self, kind: &'static dyn Kind) -> Result<()> {
        let name = kind.name().as_str();
        let refused = |why: String| {
            Err(Error::failed(format!("cannot register kind `{name}`: {why}"))
                .hint("give the kind a new name, and keys of its own"))
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return refused("a name is lower-case letters, digits and `-`".to_owned());
        }
        if self.kinds.iter().any(|k| k.name() == kind.name()) {
            return refused("a kind of that name is registered".to_owned());
        }
        for key in kind.keys() {
            if config::schema::keys_of::<config::schema::ServiceSection>().contains(key) {
                return refused(format!("`{key}` is a key of every service"));
            }
            if let Some(other) = self.kinds.iter().find(|k| k.keys().contains(key)) {
                return refused(format!("`{key}` is a key of kind `{}`", other.name()));
            }
        }
        self.kinds.push(kind);
        Ok(())
    }
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    let mut registry = Registry::default();
    super::builtin(&mut registry).expect("the built-in kinds have distinct names and keys");
    RwLock::new(registry)
});

/// Adds a kind beside the built-in ones, for every stack loaded afterwards.
pub fn register(kind: &'static dyn Kind) -> Result<()> {
    REGISTRY.write().unwrap_or_else(PoisonError::into_inner).add(kind)
}

/// Every registered kind, in registration order (the proxy first).
pub fn all() -> Vec<&'static dyn Kind> {
    REGISTRY.read().unwrap_or_else(PoisonError::into_inner).kinds.clone()
}

/// The kind of that name. Every `KindName` of a loaded stack is a registered one.
pub fn of(name: KindName) -> Option<&'static dyn Kind> {
    all().into_iter().find(|kind| kind.name() == name)
}

/// Reads and validates the stack file at `path` with the registered kinds (`config::load`).
pub fn load(path: &Path) -> Result<Stack> {
    config::load(path, &Registered)
}

/// `load`, keeping the ports chosen for `port = "auto"` services (`config::load_keeping`).
pub fn load_keeping(path: &Path, auto_ports: &BTreeMap<String, u16>) -> Result<Stack> {
    config::load_keeping(path, auto_ports, &Registered)
}

/// `load_keeping` for an export, where `${HOST}` in a service's own values is `0.0.0.0`
/// (`config::load_for_containers`).
pub fn load_for_containers(path: &Path, auto_ports: &BTreeMap<String, u16>) -> Result<Stack> {
    config::load_for_containers(path, auto_ports, &Registered)
}

/// The registered kinds, as config asks them while it loads a stack.
struct Registered;

impl config::Kinds for Registered {
    fn all(&self) -> Vec<KindInfo> {
        all().into_iter().map(|kind| KindInfo { name: kind.name(), keys: kind.keys() }).collect()
    }

    fn read(&self, table: &KindTable<'_>) -> Result<KindKeys> {
        let kind = table.kind.and_then(of);
        let keys = match kind {
            Some(kind) => kind.read_keys(table)?,
            None => KindKeys::default(),
        };
        if let Some(public) = table.public
            && kind.is_none_or(|kind| kind.browser_path().is_none())
        {
            // The kinds that web pages call are the ones probed for foreign pages.
            let mut probed: Vec<String> =
                all().iter().filter(|k| k.browser_path().is_some()).map(|k| format!("`{}`", k.name())).collect();
            probed.sort();
            let last = probed.pop().unwrap_or_default();
            let kinds = if probed.is_empty() { last } else { format!("{} or {last}", probed.join(", ")) };
            return Err(table
                .error(&public.span(), format!("`services.{}.public` is for services of kind {kinds}", table.service))
                .hint("only AG-UI and MCP servers are probed for foreign web pages; remove `public`"));
        }
        Ok(keys)
    }
}
