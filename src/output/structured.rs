//! Lines that are JSON objects (pino, bunyan, structlog, winston) read as `LEVEL message key=value`.
//!
//! Only a line that is a whole JSON object is touched; anything else is shown as it came. The log
//! files always keep the original line (`--raw` shows it on the terminal too).

use console::Style;
use serde_json::{Map, Value};

/// A log level, as loggers of different ecosystems spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    /// pino and bunyan use numbers (10 trace … 60 fatal); most others a word.
    fn from_value(value: &Value) -> Option<LogLevel> {
        if let Some(number) = value.as_u64() {
            return Some(match number {
                0..=19 => LogLevel::Trace,
                20..=29 => LogLevel::Debug,
                30..=39 => LogLevel::Info,
                40..=49 => LogLevel::Warn,
                50..=59 => LogLevel::Error,
                _ => LogLevel::Fatal,
            });
        }
        Some(match value.as_str()?.to_ascii_lowercase().as_str() {
            "trace" | "verbose" | "silly" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" | "notice" | "log" | "http" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" | "err" => LogLevel::Error,
            "fatal" | "critical" | "crit" | "panic" | "emergency" | "alert" => LogLevel::Fatal,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }

    fn style(self) -> Style {
        match self {
            LogLevel::Trace | LogLevel::Debug => Style::new().dim(),
            LogLevel::Info => Style::new().green(),
            LogLevel::Warn => Style::new().yellow(),
            LogLevel::Error | LogLevel::Fatal => Style::new().red().bold(),
        }
    }
}

const LEVEL_KEYS: [&str; 3] = ["level", "severity", "lvl"];
const MESSAGE_KEYS: [&str; 3] = ["msg", "message", "event"];
/// Fields every line of a logger carries, which say nothing about this line.
const NOISE_KEYS: [&str; 6] = ["time", "timestamp", "ts", "pid", "hostname", "v"];

fn object(line: &str) -> Option<Map<String, Value>> {
    let trimmed = line.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return None;
    }
    match serde_json::from_str(trimmed) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The level of a structured line; `None` for plain text or a JSON line without one.
pub fn level_of(line: &str) -> Option<LogLevel> {
    let map = object(line)?;
    LEVEL_KEYS.iter().find_map(|key| map.get(*key).and_then(LogLevel::from_value))
}

/// `INFO  listening port=3000` for a structured line, `None` for any other line.
pub fn pretty(line: &str, color: bool) -> Option<String> {
    let map = object(line)?;
    let level = LEVEL_KEYS.iter().find_map(|key| map.get(*key).and_then(LogLevel::from_value));
    let message = MESSAGE_KEYS.iter().find_map(|key| map.get(*key).and_then(Value::as_str));
    // A JSON object that is neither leveled nor has a message is data, not a log record.
    if level.is_none() && message.is_none() {
        return None;
    }
    let mut text = String::new();
    if let Some(level) = level {
        let name = format!("{:<5}", level.name().to_ascii_uppercase());
        if color {
            text.push_str(&level.style().force_styling(true).apply_to(name).to_string());
        } else {
            text.push_str(&name);
        }
        text.push(' ');
    }
    text.push_str(message.unwrap_or(""));
    let shown = map.iter().filter(|(key, _)| {
        let key = key.as_str();
        !LEVEL_KEYS.contains(&key) && !MESSAGE_KEYS.contains(&key) && !NOISE_KEYS.contains(&key)
    });
    for (key, value) in shown {
        let value = match value {
            Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('"') => s.clone(),
            other => other.to_string(),
        };
        text.push(' ');
        text.push_str(key);
        text.push('=');
        text.push_str(&value);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pino_bunyan_and_structlog_lines_read_the_same_way() {
        let pino = r#"{"level":30,"time":1733212800000,"pid":7,"hostname":"h","msg":"listening","port":3000}"#;
        assert_eq!(pretty(pino, false).as_deref(), Some("INFO  listening port=3000"));
        let structlog = r#"{"event": "tool failed", "level": "warning", "tool": "calculate", "reason": "bad input"}"#;
        assert_eq!(pretty(structlog, false).as_deref(), Some(r#"WARN  tool failed reason="bad input" tool=calculate"#));
        assert_eq!(level_of(r#"{"level":50,"msg":"boom"}"#), Some(LogLevel::Error));
    }

    #[test]
    fn anything_else_is_left_alone() {
        for line in ["plain text", "{not json}", r#"{"threadId":"t1"}"#, "[1,2]", r#"{"level":30"#] {
            assert_eq!(pretty(line, false), None, "{line}");
        }
        assert_eq!(level_of("ERROR: plain text is not guessed at"), None);
    }
}
