//! Colour is decided once, in this order: `--color`, then `NO_COLOR`, then `FORCE_COLOR` /
//! `CLICOLOR_FORCE`, then whether each stream is a terminal.

use std::io::IsTerminal;

use console::Style;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether each stream gets colour.
#[derive(Clone, Copy, Debug)]
pub struct Colors {
    pub stdout: bool,
    pub stderr: bool,
}

impl Colors {
    pub fn resolve(choice: ColorChoice) -> Colors {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        let forced = match choice {
            ColorChoice::Always => Some(true),
            ColorChoice::Never => Some(false),
            ColorChoice::Auto if set("NO_COLOR") => Some(false),
            ColorChoice::Auto if set("FORCE_COLOR") || set("CLICOLOR_FORCE") => Some(true),
            ColorChoice::Auto => None,
        };
        Colors {
            stdout: forced.unwrap_or_else(|| std::io::stdout().is_terminal()),
            stderr: forced.unwrap_or_else(|| std::io::stderr().is_terminal()),
        }
    }
}

/// A stable colour per service, by its position in the stack file.
pub fn service_style(index: usize) -> Style {
    let styles = [
        Style::new().cyan(),
        Style::new().yellow(),
        Style::new().green(),
        Style::new().magenta(),
        Style::new().blue(),
        Style::new().red(),
        Style::new().cyan().bold(),
        Style::new().yellow().bold(),
    ];
    styles[index % styles.len()].clone().force_styling(true)
}
