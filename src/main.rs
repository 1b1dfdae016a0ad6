use clap::Parser;

fn main() -> std::process::ExitCode {
    agui_dev::run(&agui_dev::cli::Cli::parse())
}
