//! What the terminal did not show while it was not reading, counted by whose lines they were,
//! and the one line that tells the reader so once it reads again (`terminal` keeps the counts).

/// What the terminal missed while it was not reading.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Missed {
    /// Service lines, by service index.
    pub services: Vec<u64>,
    /// agui-dev's own lines (status lines, a spinner's final line).
    pub own: u64,
    /// Lines of the command's data for stdout (`--json` objects).
    pub data: u64,
}

impl Missed {
    pub fn total(&self) -> u64 {
        self.services.iter().sum::<u64>() + self.own + self.data
    }
}

/// `1203 lines (1200 of `api`, 3 of agui-dev's own) were not shown while the terminal was not
/// reading; every service line is in `DIR/NAME.log``.
pub fn missed_line(missed: &Missed, names: &[String], log_dir: Option<&str>) -> String {
    let mut parts: Vec<String> = missed
        .services
        .iter()
        .zip(names)
        .filter(|(count, _)| **count > 0)
        .map(|(count, name)| format!("{count} of `{name}`"))
        .collect();
    if missed.own > 0 {
        parts.push(format!("{} of agui-dev's own", missed.own));
    }
    if missed.data > 0 {
        parts.push(format!("{} of output", missed.data));
    }
    let total = missed.total();
    let (lines, were) = if total == 1 { ("line", "was") } else { ("lines", "were") };
    let where_ = match log_dir {
        Some(dir) if missed.services.iter().any(|c| *c > 0) => format!("; every service line is in `{dir}/NAME.log`"),
        _ => String::new(),
    };
    format!("{total} {lines} ({}) {were} not shown while the terminal was not reading{where_}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missed_line_names_every_kind() {
        let names = ["api".to_owned(), "web".to_owned()];
        let missed = Missed { services: vec![1200, 0], own: 3, data: 0 };
        assert_eq!(
            missed_line(&missed, &names, Some(".agui-dev/logs")),
            "1203 lines (1200 of `api`, 3 of agui-dev's own) were not shown while the terminal was not \
             reading; every service line is in `.agui-dev/logs/NAME.log`"
        );
        let missed = Missed { services: vec![0, 0], own: 0, data: 1 };
        assert_eq!(
            missed_line(&missed, &names, Some(".agui-dev/logs")),
            "1 line (1 of output) was not shown while the terminal was not reading"
        );
    }
}
