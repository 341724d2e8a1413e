//! One integration-test binary with a module per theme: real processes, real
//! sockets on 127.0.0.1, free ports, temp dirs.

mod broker_start;
mod broker_support;
mod docs;
mod support;
mod zk_crash;
mod zk_harness;
mod zk_interop;
mod zk_server;
