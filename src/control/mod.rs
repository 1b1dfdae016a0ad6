//! A running stack as its clients see it: the control protocol's words, the socket client, and
//! the run lock that makes one `up` per stack. The supervisor serves the protocol
//! (`supervise::socket`); `status`, `restart`, the console and `agui-dev mcp` ask through it.
//! `requests` are those commands for the terminal; `logs` reads what the stack wrote, running
//! or not; `stack` finds the stack's folder and the services whose logs it holds; `status` is
//! `status` for people, `trace` a trace for people.

pub mod client;
pub mod lock;
pub mod logs;
pub mod protocol;
pub mod requests;
pub mod stack;
pub mod status;
pub mod trace;

pub use client::{ClientError, ask};
pub use lock::{StackLock, lock_stack};
pub use protocol::{
    ANSWER_LIMIT, Answer, Done, MAX_CLIENTS, MAX_REQUEST, Op, Phase, Request, ServiceStatus, VERSION, Variables,
};
