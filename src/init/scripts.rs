//! What a project's start scripts say, read without running them: how they start LiteLLM
//! (`litellm --model M --port N`, through variables like `$LITELLM_CMD`), where its venv is,
//! the port variables and their defaults (`MCPUI_PORT=${MCPUI_PORT:-3100}`), the variables they
//! export or require (`[ -z "$DEEPSEEK_API_KEY" ]`), and the order in which they enter service
//! folders (`cd mcpui-server`, `pnpm --dir agui-server ...`), which is the start order.

use std::path::Path;

/// A fact and where it came from (`start.sh:48`).
#[derive(Clone, Debug)]
pub struct Found<T> {
    pub value: T,
    pub at: String,
}

#[derive(Default, Debug)]
pub struct ScriptFacts {
    pub litellm_model: Option<Found<String>>,
    pub litellm_config: Option<Found<String>>,
    pub litellm_port: Option<Found<u16>>,
    pub litellm_host: Option<Found<String>>,
    /// Venv folder names the script uses (`.venv` from `VENV_PATH="$PROJECT_ROOT/.venv"`).
    pub venvs: Vec<Found<String>>,
    /// Port variables with a number: (`MCPUI_PORT`, 3100).
    pub ports: Vec<Found<(String, u16)>>,
    pub required: Vec<Found<String>>,
    pub exported: Vec<Found<String>>,
    /// Folders entered, in order (only those that are package folders of the project).
    pub starts: Vec<Found<String>>,
}

/// Reads one script. `folders` are the project's package folders (relative, `/`-separated).
pub fn read(path: &Path, shown: &str, folders: &[String]) -> ScriptFacts {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut facts = ScriptFacts::default();
    let mut assigned: Vec<(String, String)> = Vec::new();
    for (number, line) in logical_lines(&text) {
        let at = format!("{shown}:{number}");
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let words =
            shell_words::split(trimmed).unwrap_or_else(|_| trimmed.split_whitespace().map(str::to_owned).collect());
        // Assignments: `NAME=value`, `export NAME=value`, `local NAME=value`, and prefixes of a command.
        let mut rest = words.as_slice();
        if matches!(rest.first().map(String::as_str), Some("export" | "local" | "readonly" | "declare")) {
            let exported = rest[0] == "export";
            for word in &rest[1..] {
                let name = word.split('=').next().unwrap_or_default();
                if is_name(name) && exported {
                    facts.exported.push(Found { value: name.to_owned(), at: at.clone() });
                }
            }
            rest = &rest[1..];
        }
        let mut prefix = 0;
        for word in rest {
            let Some((name, value)) = word.split_once('=') else { break };
            if !is_name(name) {
                break;
            }
            assigned.push((name.to_owned(), value.to_owned()));
            if let Some(port) = number_in(value).filter(|_| name.ends_with("PORT")) {
                facts.ports.push(Found { value: (name.to_owned(), port), at: at.clone() });
            }
            if value.contains("venv") && !value.contains("activate") {
                let last = value.trim_matches('"').rsplit('/').next().unwrap_or_default().trim_matches('"');
                if !last.is_empty() && !last.contains('$') {
                    facts.venvs.push(Found { value: last.to_owned(), at: at.clone() });
                }
            }
            prefix += 1;
        }
        let command = &rest[prefix..];
        if prefix > 0 && !command.is_empty() {
            for word in &rest[..prefix] {
                let name = word.split('=').next().unwrap_or_default();
                facts.exported.push(Found { value: name.to_owned(), at: at.clone() });
            }
        }
        if let Some(var) = required_var(trimmed) {
            facts.required.push(Found { value: var, at: at.clone() });
        }
        if let [source, activate, ..] = command
            && (source == "source" || source == ".")
            && activate.ends_with("/bin/activate")
        {
            let folder = activate.trim_end_matches("/bin/activate").rsplit('/').next().unwrap_or_default();
            if !folder.contains('$') && !folder.is_empty() {
                facts.venvs.push(Found { value: folder.to_owned(), at: at.clone() });
            }
        }
        if is_litellm(command, &assigned) {
            read_litellm_flags(command, &assigned, &at, &mut facts);
        }
        for folder in entered(command, folders) {
            if !facts.starts.iter().any(|f| f.value == folder) {
                facts.starts.push(Found { value: folder, at: at.clone() });
            }
        }
    }
    facts
}

/// Lines with `\` continuations joined, each with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let (number, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            current = Some((number, joined));
        } else {
            joined.push_str(raw);
            lines.push((number, joined));
        }
    }
    lines.extend(current);
    lines
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The number in `4000`, `${PORT:-4000}`, `"${X:=4000}"`.
fn number_in(value: &str) -> Option<u16> {
    let value = value.trim_matches('"');
    let tail = value.rsplit([':', '-', '=']).next().unwrap_or(value).trim_end_matches('}');
    tail.parse().ok().filter(|port| *port > 0)
}

/// `VAR` of `[ -z "$VAR" ]`, `[[ -z ${VAR:-} ]]`, `test -z "$VAR"`.
fn required_var(line: &str) -> Option<String> {
    let at = line.find("-z ")?;
    let rest = line[at + 3..].trim_start().trim_start_matches('"').strip_prefix('$')?;
    let rest = rest.strip_prefix('{').unwrap_or(rest);
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    is_name(&name).then_some(name)
}

/// Whether a command runs LiteLLM: its program is `litellm`, a path ending in `/litellm`, or a
/// variable assigned such a path.
fn is_litellm(command: &[String], assigned: &[(String, String)]) -> bool {
    let Some(program) = command.first() else { return false };
    let resolved = resolve(program, assigned);
    let names_litellm = |p: &str| p == "litellm" || p.ends_with("/litellm");
    names_litellm(program) || names_litellm(resolved.trim_matches('"'))
}

/// `$NAME` / `${NAME}` replaced by its last assigned value (one level), else unchanged.
fn resolve(word: &str, assigned: &[(String, String)]) -> String {
    let name = word.trim_start_matches('$').trim_start_matches('{').trim_end_matches('}');
    if word.starts_with('$')
        && let Some((_, value)) = assigned.iter().rev().find(|(n, _)| n == name)
    {
        return value.clone();
    }
    word.to_owned()
}

fn read_litellm_flags(command: &[String], assigned: &[(String, String)], at: &str, facts: &mut ScriptFacts) {
    let mut words = command.iter().skip(1);
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (word.as_str(), None),
        };
        if !matches!(flag, "--model" | "-m" | "--config" | "-c" | "--port" | "--host") {
            continue;
        }
        let Some(value) = inline.or_else(|| words.next().cloned()) else { break };
        let value = resolve(&value, assigned);
        let found = |value: String| Found { value, at: at.to_owned() };
        match flag {
            "--model" | "-m" => facts.litellm_model = Some(found(value)),
            "--config" | "-c" => facts.litellm_config = Some(found(value)),
            "--host" => facts.litellm_host = Some(found(value)),
            _ => {
                if let Some(port) = number_in(&value) {
                    facts.litellm_port = Some(Found { value: port, at: at.to_owned() });
                }
            }
        }
    }
}

/// Package folders a command enters: `cd DIR`, `--dir DIR`, `-C DIR`, `--prefix DIR`,
/// `--filter NAME`, or `DIR/...` paths, matched by their last component.
fn entered(command: &[String], folders: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let matches = |word: &str| {
        let word = word.trim_matches('"').trim_end_matches('/').trim_start_matches("./");
        folders.iter().find(|f| {
            let last = f.rsplit('/').next().unwrap_or(f);
            word == f.as_str() || word == last || word.ends_with(&format!("/{last}"))
        })
    };
    let mut words = command.iter().peekable();
    while let Some(word) = words.next() {
        let takes_folder = matches!(word.as_str(), "cd" | "pushd" | "--dir" | "-C" | "--prefix" | "--filter" | "--cwd");
        if takes_folder
            && let Some(next) = words.peek()
            && let Some(folder) = matches(next)
        {
            found.push(folder.clone());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_scaffold_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let litellm = dir.path().join("start-litellm.sh");
        std::fs::write(
            &litellm,
            "#!/bin/bash\nVENV_PATH=\"$PROJECT_ROOT/.venv\"\nsource \"$VENV_PATH/bin/activate\"\nLITELLM_CMD=\"$VENV_PATH/bin/litellm\"\nif [ -z \"$DEEPSEEK_API_KEY\" ]; then\n  exit 1\nfi\nDEEPSEEK_API_KEY=\"$DEEPSEEK_API_KEY\" \"$LITELLM_CMD\" \\\n    --model deepseek/deepseek-chat \\\n    --port 4000\n",
        )
        .unwrap();
        let facts = read(&litellm, "scripts/start-litellm.sh", &[]);
        assert_eq!(facts.litellm_model.as_ref().unwrap().value, "deepseek/deepseek-chat");
        assert_eq!(facts.litellm_model.as_ref().unwrap().at, "scripts/start-litellm.sh:8");
        assert_eq!(facts.litellm_port.as_ref().unwrap().value, 4000);
        assert_eq!(facts.venvs[0].value, ".venv");
        assert_eq!(facts.required[0].value, "DEEPSEEK_API_KEY");

        let start = dir.path().join("start.sh");
        std::fs::write(
            &start,
            "MCPUI_PORT=${MCPUI_PORT:-3100}\nAGUI_PORT=${AGUI_PORT:-3000}\ncd mcpui-server\npnpm run dev &\ncd ..\ncd agui-server\nMCP_SERVER_URL=${MCP_SERVER_URL} pnpm run dev &\n",
        )
        .unwrap();
        let folders = vec!["agui-server".to_owned(), "mcpui-server".to_owned()];
        let facts = read(&start, "start.sh", &folders);
        let ports: Vec<(String, u16)> = facts.ports.iter().map(|p| p.value.clone()).collect();
        assert_eq!(ports, vec![("MCPUI_PORT".to_owned(), 3100), ("AGUI_PORT".to_owned(), 3000)]);
        let starts: Vec<&str> = facts.starts.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(starts, ["mcpui-server", "agui-server"]);
        assert!(facts.exported.iter().any(|e| e.value == "MCP_SERVER_URL"));
        assert!(facts.litellm_model.is_none());
    }
}
