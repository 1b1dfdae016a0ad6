//! A trace for people, shared by `agui-dev trace` and the MCP `trace` tool: the waterfall (the
//! spans as a tree on one time axis, with what matters of each model and tool call under it), the
//! list of kept traces, the totals `status` shows, and where a trace's time went.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use console::Style;

use crate::output::service_style;
use crate::traces::calls::{self, ModelCall, Role, TimeSpent, ToolCall};
use crate::traces::{Detail, Span, Summary, Totals};

/// The duration column's width: `1m02s`, `312ms`, `0.42ms` fit.
const DURATION: usize = 8;
/// A service name longer than this is cut in the waterfall's first column.
const SERVICE: usize = 16;
/// The deepest indentation shown; deeper spans line up at it.
const DEPTH: usize = 12;
/// The narrowest time axis.
const MIN_BAR: usize = 10;

/// `text`, painted when colour is on.
fn paint(color: bool, style: &Style, text: &str) -> String {
    if color { style.clone().force_styling(true).apply_to(text).to_string() } else { text.to_owned() }
}

/// The waterfall of one trace, `width` columns wide: the header, the axis, then one line per
/// span (service, indented name, duration, bar) and under it the details of a model or tool call
/// and the error of a span that failed (marked `✗`).
pub fn waterfall(detail: &Detail, width: usize, color: bool) -> String {
    let spans = &detail.spans;
    let mut text = header(&detail.summary, width, color);
    if spans.is_empty() {
        text.push_str("(no spans)\n");
        return text;
    }
    let order = calls::tree(spans);
    let labels: Vec<String> = order
        .iter()
        .map(|&(i, depth)| {
            let mark = if spans[i].error.is_some() { "✗ " } else { "" };
            format!("{}{mark}{}", "  ".repeat(depth.min(DEPTH)), one_line(&spans[i].name))
        })
        .collect();
    let service_width =
        spans.iter().map(|s| s.service.chars().count()).max().unwrap_or(0).clamp("SERVICE".len(), SERVICE);
    let room = width.saturating_sub(service_width + DURATION + 6);
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max("SPAN".len());
    let label_width = widest.min(room.saturating_sub((room / 3).max(MIN_BAR))).max(8);
    let bar_width = room.saturating_sub(label_width).max(MIN_BAR);
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);
    let total = end.saturating_sub(start);
    let right = ms(total as f64 / 1e6);
    let axis = format!("0{right:>pad$}", pad = bar_width.saturating_sub(1));
    let dim = Style::new().dim();
    let head = format!("{:service_width$}  {:label_width$}  {:>DURATION$}  ", "SERVICE", "SPAN", "DURATION");
    let _ = writeln!(text, "{}{}", paint(color, &Style::new().bold(), &head), paint(color, &dim, &axis));
    for (&(i, depth), label) in order.iter().zip(&labels) {
        let span = &spans[i];
        let style = service_style(detail.summary.services.iter().position(|s| s == &span.service).unwrap_or(0));
        let service = paint(color, &style, &format!("{:service_width$}", clip(&span.service, service_width)));
        let label = format!("{:label_width$}", clip(label, label_width));
        let label = if span.error.is_some() { paint(color, &Style::new().red().bold(), &label) } else { label };
        let (from, to) = cells(span, start, total, bar_width);
        let bar_style = if span.error.is_some() { Style::new().red() } else { style };
        let bar = format!("{}{}", " ".repeat(from), paint(color, &bar_style, &"█".repeat(to - from)));
        let _ = writeln!(text, "{service}  {label}  {:>DURATION$}  {bar}", ms(span.duration_ms()));
        // Details line up under the name, two columns in, and are cut at the width.
        let indent = format!("{:service_width$}  {}  ", "", "  ".repeat(depth.min(DEPTH)));
        let room = width.saturating_sub(indent.len()).max(MIN_BAR * 2);
        for line in details(span, room) {
            let _ = writeln!(text, "{indent}{}", paint(color, &dim, &clip(&line, room)));
        }
        if let Some(message) = &span.error {
            let message = if message.is_empty() { "(no message)" } else { message };
            let line = clip(&format!("error: {}", one_line(message)), room);
            let _ = writeln!(text, "{indent}{}", paint(color, &Style::new().red(), &line));
        }
    }
    text
}

/// The cells of the time axis a span covers: at least one, within the axis.
fn cells(span: &Span, start: u64, total: u64, width: usize) -> (usize, usize) {
    if total == 0 {
        return (0, 1);
    }
    let scale = width as f64 / total as f64;
    let from = ((span.start_ns.saturating_sub(start)) as f64 * scale).floor() as usize;
    let to = ((span.end_ns.saturating_sub(start)) as f64 * scale).ceil() as usize;
    let from = from.min(width - 1);
    (from, to.clamp(from + 1, width))
}

/// What matters of a span beyond its name and time, in lines of at most `room` characters: a
/// model call's model, tokens, cost, first token and finish reason (wrapped between facts); a tool
/// call's name, arguments and result (each cut at the width).
fn details(span: &Span, room: usize) -> Vec<String> {
    match Role::of(span) {
        Role::Model(call) => wrap(model_facts(&call), room),
        Role::Tool(ToolCall { name, arguments, result }) => {
            let mut lines = vec![format!("tool `{name}`")];
            lines.extend(arguments.map(|a| format!("arguments: {}", one_line(&a))));
            lines.extend(result.map(|r| format!("result: {}", one_line(&r))));
            lines
        }
        Role::Other => Vec::new(),
    }
}

fn model_facts(call: &ModelCall) -> Vec<String> {
    let mut parts = Vec::new();
    match (&call.model, &call.response_model) {
        (Some(asked), Some(answered)) if asked != answered => parts.push(format!("model {asked} → {answered}")),
        (Some(model), _) | (None, Some(model)) => parts.push(format!("model {model}")),
        (None, None) => {}
    }
    if call.input_tokens.is_some() || call.output_tokens.is_some() {
        let tokens = (call.input_tokens.unwrap_or(0), call.output_tokens.unwrap_or(0));
        parts.push(format!("{} in / {} out tokens", tokens.0, tokens.1));
    }
    parts.extend(call.cost.map(dollars));
    parts.extend(call.first_token_ms.map(|t| format!("first token {}", ms(t))));
    if !call.finish_reasons.is_empty() {
        parts.push(format!("finish {}", call.finish_reasons.join(", ")));
    }
    parts
}

/// Facts joined by ` · ` in lines of at most `room` characters, each fact whole on one line.
fn wrap(facts: Vec<String>, room: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for fact in facts {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 3 + fact.chars().count() <= room => {
                line.push_str(" · ");
                line.push_str(&fact);
            }
            _ => lines.push(fact),
        }
    }
    lines
}

/// What failed traces are marked with, in the header and the list.
const FAILED: &str = "✗ failed";

/// The lines above a waterfall: which run and trace, how long, the model, tokens and cost.
pub fn header(summary: &Summary, width: usize, color: bool) -> String {
    let mut facts = Vec::new();
    if let Some(run) = &summary.run_id {
        facts.push(format!("run {run}"));
    }
    facts.push(format!("trace {}", summary.trace_id));
    if summary.run_id.is_none() {
        facts.push(format!("`{}`", one_line(&summary.name)));
    }
    facts.push(ms(summary.duration_ms));
    if let Some(model) = &summary.model {
        facts.push(format!("model {model}"));
    }
    if summary.model_calls == 0 {
        facts.push("no model calls".to_owned());
    } else {
        facts.push(plural(summary.model_calls as u64, "model call"));
        facts.push(format!("{} in / {} out tokens", summary.input_tokens, summary.output_tokens));
        facts.push(dollars(summary.cost));
    }
    facts.push(format!("{} from {}", plural(summary.spans as u64, "span"), summary.services.join(", ")));
    if summary.error {
        facts.push(FAILED.to_owned());
    }
    let facts = facts.iter().map(|fact| printable(fact)).collect();
    let mut text = String::new();
    for line in wrap(facts, width) {
        let (plain, failed) = match line.strip_suffix(FAILED) {
            Some(before) => (before, FAILED),
            None => (line.as_str(), ""),
        };
        let bold = paint(color, &Style::new().bold(), plain);
        let _ = writeln!(
            text,
            "{bold}{}",
            if failed.is_empty() { String::new() } else { paint(color, &Style::new().red().bold(), failed) }
        );
    }
    text
}

/// The kept traces, newest first, one row each, then the totals.
pub fn list(traces: &[Summary], totals: Option<&Totals>) -> String {
    let mut rows = vec![
        ["TIME", "RUN OR TRACE", "NAME", "DURATION", "MODEL", "TOKENS IN/OUT", "COST", "SPANS", "ERROR"]
            .map(String::from),
    ];
    for t in traces {
        let at = UNIX_EPOCH + Duration::from_nanos(t.start_ns);
        let time = humantime::format_rfc3339_seconds(at).to_string();
        rows.push([
            time.get(11..19).unwrap_or(&time).to_owned(),
            t.run_id.clone().unwrap_or_else(|| t.trace_id.clone()),
            clip(&one_line(&t.name), 32),
            ms(t.duration_ms),
            t.model.clone().unwrap_or_else(|| "-".to_owned()),
            format!("{}/{}", t.input_tokens, t.output_tokens),
            dollars(t.cost),
            t.spans.to_string(),
            if t.error { "✗".to_owned() } else { String::new() },
        ]);
    }
    let mut text = String::new();
    if traces.is_empty() {
        text.push_str("no traces kept yet: run the agent (`agui-dev chat -m hi`)\n");
    } else {
        let widths: Vec<usize> = (0..9).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in &rows {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            text.push_str(cells.join("  ").trim_end());
            text.push('\n');
        }
    }
    if let Some(totals) = totals {
        let _ = writeln!(text, "since `up` started: {}", totals_text(totals));
    }
    text
}

/// `3 runs · 360 in / 108 out tokens · $0.0012`, and what was let go when anything was.
pub fn totals_text(totals: &Totals) -> String {
    let mut text = format!(
        "{} · {} in / {} out tokens · {}",
        plural(totals.runs, "run"),
        totals.input_tokens,
        totals.output_tokens,
        dollars(totals.cost)
    );
    let mut lost = Vec::new();
    if totals.evicted_traces > 0 {
        lost.push(format!("{} evicted", plural(totals.evicted_traces, "trace")));
    }
    if totals.dropped_spans > 0 {
        lost.push(format!("{} dropped", plural(totals.dropped_spans, "span")));
    }
    if totals.forward_failures > 0 {
        lost.push(format!("{} not forwarded", plural(totals.forward_failures, "batch")));
    }
    if !lost.is_empty() {
        let _ = write!(text, " ({})", lost.join(", "));
    }
    text
}

/// Where the time went, for a reader who asks why a run was slow.
pub fn time_spent_text(spent: &TimeSpent) -> String {
    let share = |part: f64| {
        if spent.total_ms > 0.0 { format!(" ({:.0}%)", part / spent.total_ms * 100.0) } else { String::new() }
    };
    let mut text = format!("where the time went ({} in all):\n", ms(spent.total_ms));
    if spent.model_calls == 0 {
        text.push_str("  model calls: none traced\n");
    } else {
        let _ = write!(text, "  model calls: {}, {}{}", spent.model_calls, ms(spent.model_ms), share(spent.model_ms));
        if !spent.first_token_ms.is_empty() {
            let firsts: Vec<String> = spent.first_token_ms.iter().map(|t| ms(*t)).collect();
            let _ = write!(text, "; first token after {}", firsts.join(", "));
        }
        text.push('\n');
    }
    if spent.tool_calls.is_empty() {
        text.push_str("  tool calls: none traced\n");
    } else {
        let each: Vec<String> = spent
            .tool_calls
            .iter()
            .map(|t| format!("`{}` {}{}", one_line(&t.name), ms(t.ms), if t.error { " ✗" } else { "" }))
            .collect();
        let count = spent.tool_calls.len();
        let _ =
            writeln!(text, "  tool calls: {count}, {}{}: {}", ms(spent.tool_ms), share(spent.tool_ms), each.join(", "));
    }
    let slowest: Vec<String> = spent
        .slowest
        .iter()
        .map(|s| format!("`{}` ({}) {}", one_line(&s.name), one_line(&s.service), ms(s.self_ms)))
        .collect();
    if !slowest.is_empty() {
        let _ = writeln!(text, "  slowest on their own: {}", slowest.join("; "));
    }
    for failed in &spent.errors {
        let _ = writeln!(
            text,
            "  failed: `{}` ({}): {}",
            one_line(&failed.name),
            one_line(&failed.service),
            one_line(&failed.message)
        );
    }
    text
}

/// Milliseconds for people: `0.42ms`, `3.4ms`, `312ms`, `2.41s`, `1m02s`.
pub fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.2}ms")
    } else if value < 10.0 {
        format!("{value:.1}ms")
    } else if value < 1000.0 {
        format!("{value:.0}ms")
    } else if value < 60_000.0 {
        format!("{:.2}s", value / 1000.0)
    } else {
        let seconds = (value / 1000.0).round() as u64;
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    }
}

/// US dollars, to the millionth and without trailing zeros: `$0`, `$0.0123`, `$0.002`, `$1.50`.
pub fn dollars(cost: f64) -> String {
    if cost <= 0.0 {
        return "$0".to_owned();
    }
    if cost >= 1.0 {
        return format!("${cost:.2}");
    }
    let text = format!("{cost:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    // Less than a millionth is not nothing.
    if text == "0" { "<$0.000001".to_owned() } else { format!("${text}") }
}

fn plural(count: u64, what: &str) -> String {
    match (count, what.ends_with("ch")) {
        (1, _) => format!("1 {what}"),
        (_, true) => format!("{count} {what}es"),
        _ => format!("{count} {what}s"),
    }
}

/// At most `width` characters, the last one `…` when cut.
fn clip(text: &str, width: usize) -> String {
    let text = printable(text);
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Whitespace runs (newlines too) as one space: a value spread over lines would break the layout.
fn one_line(text: &str) -> String {
    printable(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Without control characters: any local process can send a span, and an escape sequence in a
/// span's name must not reach the terminal (a title, the clipboard through OSC 52).
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        let shown: Vec<String> = [0.42, 3.44, 312.4, 2410.0, 62_000.0].into_iter().map(ms).collect();
        assert_eq!(shown, ["0.42ms", "3.4ms", "312ms", "2.41s", "1m02s"]);
        let costs = [0.0, 0.0123, 0.000_123, 0.0012 + 0.0008, 1.5, 1e-9].map(dollars);
        assert_eq!(costs, ["$0", "$0.0123", "$0.000123", "$0.002", "$1.50", "<$0.000001"]);
        assert_eq!([plural(1, "run"), plural(2, "run"), plural(3, "batch")], ["1 run", "2 runs", "3 batches"]);
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        assert_eq!(clip("tool\x1b]52;c;cHduZWQ=\x07", 40), "tool]52;c;cHduZWQ=");
    }

    fn span(id: &str, parent: Option<&str>, service: &str, ns: (u64, u64)) -> Span {
        Span {
            trace_id: "t".repeat(32),
            span_id: id.to_owned(),
            parent_id: parent.map(str::to_owned),
            name: format!("span {id}"),
            service: service.to_owned(),
            kind: "internal".to_owned(),
            start_ns: ns.0,
            end_ns: ns.1,
            error: None,
            attributes: std::collections::BTreeMap::default(),
            events: Vec::new(),
        }
    }

    #[test]
    fn colour_only_paints_the_same_text_and_lost_counts_are_said() {
        let mut spans =
            vec![span("a", None, "agui", (0, 4_000_000)), span("b", Some("a"), "mcp", (1_000_000, 2_000_000))];
        spans[1].error = Some("boom\nat line 2".to_owned());
        let detail = Detail { summary: crate::traces::model::summarize(&spans), spans };
        let plain = waterfall(&detail, 80, false);
        let painted = waterfall(&detail, 80, true);
        assert!(painted.contains("\x1b[31"), "{painted:?}");
        assert_eq!(crate::output::strip_ansi(&painted), plain);
        assert!(plain.contains("error: boom at line 2"), "one line: {plain}");
        assert!(plain.lines().all(|l| l.chars().count() <= 80), "{plain}");
        assert!(
            plain.starts_with(&format!(
                "trace {} · `span a` · 4.0ms · no model calls\n2 spans from agui, mcp · ✗ failed\n",
                "t".repeat(32)
            )),
            "{plain}"
        );
        let totals = Totals { runs: 1, evicted_traces: 2, dropped_spans: 1, forward_failures: 3, ..Totals::default() };
        assert_eq!(
            totals_text(&totals),
            "1 run · 0 in / 0 out tokens · $0 (2 traces evicted, 1 span dropped, 3 batches not forwarded)"
        );
    }

    #[test]
    fn a_bar_covers_at_least_one_cell_inside_the_axis() {
        let mut span = span("a", None, "agui", (100, 100));
        assert_eq!(cells(&span, 0, 100, 10), (9, 10), "a span of no time at the very end");
        span.start_ns = 0;
        assert_eq!(cells(&span, 0, 100, 10), (0, 10));
        assert_eq!(cells(&span, 0, 0, 10), (0, 1));
    }
}
