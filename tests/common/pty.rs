//! agui-dev under a pseudo-terminal, as people run it: stdout and stderr are ttys (spinners and
//! colours on), and keys are typed on the master side, so the kernel's line discipline turns
//! Ctrl-C into SIGINT for the foreground process group and Ctrl-S/Ctrl-Q stop and resume output.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::{BIN, Captured, Fixture, PROVIDER_KEYS};

pub const CTRL_C: &[u8] = b"\x03";
pub const CTRL_D: &[u8] = b"\x04";
pub const CTRL_S: &[u8] = b"\x13";
pub const CTRL_Q: &[u8] = b"\x11";

/// agui-dev running under a pseudo-terminal.
pub struct Tty {
    pub child: Box<dyn Child + Send + Sync>,
    pub screen: Captured,
    keys: Box<dyn Write + Send>,
    // Dropping the master hangs the terminal up; keep it as long as the child may write.
    _master: Box<dyn MasterPty + Send>,
}

impl Tty {
    pub fn spawn(fixture: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Tty {
        Tty::spawn_in(fixture, fixture.path(), args, env)
    }

    pub fn spawn_in(fixture: &Fixture, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Tty {
        let pair =
            native_pty_system().openpty(PtySize { rows: 40, cols: 160, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut command = CommandBuilder::new(BIN);
        command.args(args);
        command.cwd(cwd);
        command.env("AGUI_TEST_MARKER", &fixture.marker);
        command.env("TERM", "xterm-256color");
        for var in ["NO_COLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "AGUI_DEV_FILE", "CI"] {
            command.env_remove(var);
        }
        for key in PROVIDER_KEYS {
            command.env_remove(key);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = pair.slave.spawn_command(command).unwrap();
        drop(pair.slave);
        let screen = Captured::start(pair.master.try_clone_reader().unwrap());
        let keys = pair.master.take_writer().unwrap();
        Tty { child, screen, keys, _master: pair.master }
    }

    pub fn type_keys(&mut self, keys: &[u8]) {
        self.keys.write_all(keys).unwrap();
        self.keys.flush().unwrap();
    }

    /// Waits for agui-dev to exit and returns its code; kills it if it hangs, and fails.
    pub fn wait(&mut self, limit: Duration) -> u32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("agui-dev did not exit under the terminal; screen:\n{}", self.screen.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
    }
}
