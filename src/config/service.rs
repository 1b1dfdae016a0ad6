//! One `[services.NAME]` table read into a `Service`: its env files, every value expanded
//! (`${VAR}`, `${services.NAME.port}`, its own `${PORT}` and `${HOST}`), its folder, its probe,
//! its kind's keys and its policies.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use indexmap::IndexMap;
use nix::sys::signal::Signal;
use toml::Spanned;

use super::values::{PortValue, valid};
use super::{
    DEFAULT_MAX_RESTARTS, DEFAULT_READY_TIMEOUT, DEFAULT_STOP_GRACE, Loader, Service, interpolate, probe, schema,
};
use crate::error::Result;

/// What every service's table is read against: the services' names, their ports (the chosen
/// ones for `"auto"`), and the variables of the stack-level env files.
pub(super) struct Shared<'a> {
    pub names: &'a [&'a str],
    pub ports: &'a HashMap<&'a str, u16>,
    pub stack_files: &'a IndexMap<String, String>,
}

impl Loader<'_> {
    pub(super) fn service(
        &self,
        name: &str,
        section: &Spanned<schema::ServiceSection>,
        shared: &Shared<'_>,
        missing_env_files: &mut Vec<PathBuf>,
    ) -> Result<Service> {
        let span = section.span();
        let section = section.get_ref();
        let mut file_env = shared.stack_files.clone();
        let own_files = self.read_env_files(&section.env_files, missing_env_files)?;
        let own_file_keys: Vec<String> = own_files.keys().cloned().collect();
        file_env.extend(own_files);
        file_env.retain(|key, _| !self.process_env.contains_key(key));
        let own = interpolate::Own {
            service: name,
            port: shared.ports.get(name).copied(),
            host: self.own_host,
            other: shared.names.iter().copied().find(|n| *n != name && shared.ports.contains_key(n)),
        };
        let lookup =
            |key: &str| own.var(key).or_else(|| self.process_env.get(key).or_else(|| file_env.get(key)).cloned());
        let port_of = |service: &str| match (shared.ports.get(service), shared.names.contains(&service)) {
            (Some(port), _) => Ok(*port),
            (None, true) => Err(interpolate::NoPort::NoPort(service.to_owned())),
            (None, false) => Err(interpolate::NoPort::NoService(service.to_owned())),
        };
        let expand = |text: &str, at: &Range<usize>| {
            interpolate::expand(text, &lookup, &port_of)
                .map_err(|unexpanded| self.located(at, &own.explain(unexpanded)))
        };

        let mut env = IndexMap::new();
        for (key, value) in &section.env {
            env.insert(key.clone(), expand(&value.get_ref().0, &value.span())?);
        }
        let command = match section.command.as_ref().and_then(|c| Some((c.span(), c.get_ref().valid()?))) {
            Some((span, command)) => {
                Some(command.0.iter().map(|word| expand(word, &span)).collect::<Result<Vec<_>>>()?)
            }
            None => None,
        };
        let cwd = self.cwd(name, section.cwd.as_ref(), &expand)?;
        let (ready, ready_timeout) = match &section.ready {
            Some(ready) => probe::parse(&self.source, name, ready, &expand)?,
            None => (None, DEFAULT_READY_TIMEOUT),
        };
        let (kind, kind_keys) = self.kind_keys(name, section, &expand)?;
        let task = section.task.as_ref().is_some_and(|t| *t.get_ref());
        if task {
            self.check_task(name, section)?;
        }
        let watch = self.globs(&section.watch)?;
        let watch_ignore = self.globs(&section.watch_ignore)?;
        Ok(Service {
            name: name.to_owned(),
            kind,
            command,
            cwd,
            file_env,
            own_file_keys,
            env,
            port: shared.ports.get(name).copied(),
            port_auto: matches!(valid(section.port.as_ref()), Some(PortValue::Auto)),
            task,
            watch,
            watch_ignore,
            ready,
            ready_timeout,
            depends_on: section.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
            restart: section.restart.unwrap_or_default(),
            max_restarts: section.max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
            stop_signal: valid(section.stop_signal.as_ref()).map_or(Signal::SIGTERM, |s| s.0),
            stop_grace: valid(section.stop_grace.as_ref()).map_or(DEFAULT_STOP_GRACE, |d| d.0),
            kind_keys,
            public: section.public.as_ref().is_some_and(|p| *p.get_ref()),
            span,
        })
    }

    /// `cwd` expanded and relative to the stack file, which must be a folder.
    fn cwd(
        &self,
        name: &str,
        cwd: Option<&Spanned<String>>,
        expand: &dyn Fn(&str, &Range<usize>) -> Result<String>,
    ) -> Result<PathBuf> {
        let src = &self.source;
        match cwd {
            Some(cwd) => {
                let dir = self.dir.join(expand(cwd.get_ref(), &cwd.span())?);
                if !dir.is_dir() {
                    return Err(src
                        .error(
                            &cwd.span(),
                            format!("`services.{name}.cwd` is `{}`, which is not a folder", dir.display()),
                        )
                        .hint("paths are relative to the stack file; create the folder or fix the path"));
                }
                Ok(dir)
            }
            None => Ok(self.dir.clone()),
        }
    }
}
