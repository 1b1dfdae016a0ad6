//! Leaf: the operating system as agui-dev uses it, and nothing of ours. Reading `/proc`
//! (`proc`), ports and who holds them (`ports`), who listens beyond loopback (`listening`),
//! process groups and stopping them (`group`), the subreaper that collects every child
//! (`reaper`), finding programs like `execvp` (`program`), and running a helper to completion
//! with an optional time limit (`run`: the one way agui-dev runs a short-lived child, async).

pub mod group;
pub mod listening;
pub mod ports;
pub mod proc;
pub mod program;
pub mod reaper;
pub mod run;
