//! Use cases: what the API, the worker and the sweeper do, over the ports.

pub mod api;
pub mod indexed_log;
pub mod indexer;
pub mod lifecycle;
pub mod secrets;
pub mod slice;
pub mod sweeper;
pub mod worker;
