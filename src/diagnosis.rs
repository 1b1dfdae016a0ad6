//! Doctor's vocabulary, low enough that every kind can report what it finds: a `Finding` (a check
//! id, ok / warn / fail, what was found and the fix) and the `Diagnosis` that collects them.
//!
//! Every check id belongs to an `Area`, and the human report walks `Area::ALL`: a finding cannot
//! fall out of the report, because its area is a type, not a prefix looked up in a list. The
//! ids are constants next to the checks that make them; `docs/doctor.md` lists them all, and a
//! test in `doctor` keeps the two in line.

/// Where a check belongs; the human report shows areas in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Area {
    Stack,
    Venv,
    Litellm,
    Keys,
    Ports,
    Running,
    Tools,
    Consistency,
    Online,
}

impl Area {
    pub const ALL: [Area; 9] = [
        Area::Stack,
        Area::Venv,
        Area::Litellm,
        Area::Keys,
        Area::Ports,
        Area::Running,
        Area::Tools,
        Area::Consistency,
        Area::Online,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Area::Stack => "stack",
            Area::Venv => "venv",
            Area::Litellm => "litellm",
            Area::Keys => "keys",
            Area::Ports => "ports",
            Area::Running => "running",
            Area::Tools => "tools",
            Area::Consistency => "consistency",
            Area::Online => "online",
        }
    }
}

/// A stable check id: `venv.exists` in area `venv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckId {
    pub area: Area,
    pub id: &'static str,
}

impl CheckId {
    pub const fn new(area: Area, id: &'static str) -> CheckId {
        CheckId { area, id }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// What one check found about one subject (a service or a model; `None` for the whole stack).
#[derive(Clone, Debug)]
pub struct Finding {
    pub check: CheckId,
    pub subject: Option<String>,
    pub status: Status,
    pub message: String,
    /// The fix; `None` for `ok`.
    pub fix: Option<String>,
    /// More fields for `--json`, when the check has data beyond its message (an object).
    pub data: Option<serde_json::Value>,
}

/// Every finding of one doctor run, in the order the checks made them.
#[derive(Default, Debug)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    pub fn push(
        &mut self,
        check: CheckId,
        subject: Option<&str>,
        status: Status,
        message: String,
        fix: Option<String>,
    ) {
        self.findings.push(Finding { check, subject: subject.map(str::to_owned), status, message, fix, data: None });
    }

    pub fn ok(&mut self, check: CheckId, subject: Option<&str>, message: impl Into<String>) {
        self.push(check, subject, Status::Ok, message.into(), None);
    }

    /// An `ok` finding whose `--json` object also carries the fields of `data`.
    pub fn ok_with(
        &mut self,
        check: CheckId,
        subject: Option<&str>,
        message: impl Into<String>,
        data: serde_json::Value,
    ) {
        self.ok(check, subject, message);
        if let Some(finding) = self.findings.last_mut() {
            finding.data = Some(data);
        }
    }

    pub fn warn(&mut self, check: CheckId, subject: Option<&str>, message: impl Into<String>, fix: impl Into<String>) {
        self.push(check, subject, Status::Warn, message.into(), Some(fix.into()));
    }

    pub fn fail(&mut self, check: CheckId, subject: Option<&str>, message: impl Into<String>, fix: impl Into<String>) {
        self.push(check, subject, Status::Fail, message.into(), Some(fix.into()));
    }

    pub fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    /// Whether `check` already found something about `subject`.
    pub fn has(&self, check: CheckId, subject: Option<&str>) -> bool {
        self.findings.iter().any(|f| f.check == check && f.subject.as_deref() == subject)
    }
}
