//! The two faces of a diagnosis: the human report (stderr, grouped by area, `✓`/`!`/`✗` and an
//! indented `fix:` line) and JSON Lines (stdout, one object per finding).

use std::fmt::Write as _;

use console::Style;

use crate::diagnosis::{Area, Diagnosis, Finding, Status};

/// One JSON object per finding: `id`, `status`, `subject`, `message`, `fix`, and the fields of its
/// `data` (which never replace those five).
pub fn json_lines(diagnosis: &Diagnosis) -> Vec<String> {
    diagnosis
        .findings
        .iter()
        .map(|finding| {
            let mut line = serde_json::json!({
                "id": finding.check.id,
                "status": finding.status.as_str(),
                "subject": finding.subject,
                "message": finding.message,
                "fix": finding.fix,
            });
            if let (Some(serde_json::Value::Object(data)), Some(object)) = (&finding.data, line.as_object_mut()) {
                for (key, value) in data {
                    object.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            line.to_string()
        })
        .collect()
}

/// The human report. Every finding's area is one of `Area::ALL`, so none is left out.
pub fn human(diagnosis: &Diagnosis, color: bool, quiet: bool) -> String {
    let paint = |style: Style, text: &str| {
        if color { style.force_styling(true).apply_to(text).to_string() } else { text.to_owned() }
    };
    let width =
        diagnosis.findings.iter().filter_map(|f| f.subject.as_ref()).map(|s| s.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for area in Area::ALL {
        let findings: Vec<&Finding> = diagnosis
            .findings
            .iter()
            .filter(|f| f.check.area == area)
            .filter(|f| !quiet || f.status != Status::Ok)
            .collect();
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(text, "{}", paint(Style::new().bold(), area.name()));
        for finding in findings {
            let mark = match finding.status {
                Status::Ok => paint(Style::new().green().bold(), "✓"),
                Status::Warn => paint(Style::new().yellow().bold(), "!"),
                Status::Fail => paint(Style::new().red().bold(), "✗"),
            };
            let subject = match &finding.subject {
                Some(subject) => format!("{subject:<width$}  "),
                None if width > 0 => " ".repeat(width + 2),
                None => String::new(),
            };
            let _ = writeln!(text, "  {mark} {subject}{}", finding.message);
            if let Some(fix) = &finding.fix {
                let pad = " ".repeat(width + if width > 0 { 2 } else { 0 });
                let _ = writeln!(text, "    {pad}{} {fix}", paint(Style::new().cyan(), "fix:"));
            }
        }
    }
    let (ok, warn, fail) = (diagnosis.count(Status::Ok), diagnosis.count(Status::Warn), diagnosis.count(Status::Fail));
    let summary = format!("{ok} ok, {warn} warning{}, {fail} failed", if warn == 1 { "" } else { "s" });
    let summary = match (fail, warn) {
        (0, 0) => paint(Style::new().green().bold(), &summary),
        (0, _) => paint(Style::new().yellow().bold(), &summary),
        _ => paint(Style::new().red().bold(), &summary),
    };
    let _ = writeln!(text, "{summary}");
    text
}
