//! The lab: what runs activity-replay on this machine and measures it, apart
//! from the operator's CLI. Deploys template.yaml to LocalStack
//! ([`stack`]), prepares what a stack needs outside it ([`setup`]), writes
//! realistic delivery logs ([`seed`]), receives and verifies deliveries
//! ([`receiver`]), runs the end-to-end demo ([`demo`]) and the benchmarks
//! ([`bench`]). The integration tests use it too.

pub mod bench;
pub mod demo;
pub mod receiver;
pub mod seed;
pub mod setup;
pub mod stack;
