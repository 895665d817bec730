//! replayctl: the operator's CLI and the local-stack tooling (seeding, the
//! webhook receiver, the local event sources, the demo), shared with the
//! integration tests.

pub mod bench;
pub mod client;
pub mod demo;
pub mod local;
pub mod receiver;
pub mod seed;
pub mod setup;
pub mod stack;
