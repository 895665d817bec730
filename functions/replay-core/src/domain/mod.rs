//! Pure domain code: no I/O, no SDK types.

pub mod apikey;
pub mod checkpoint;
pub mod dedup;
pub mod filter;
pub mod ids;
pub mod job;
pub mod log_index;
pub mod ordering;
pub mod pace;
pub mod partitioner;
pub mod record;
pub mod retry;
pub mod sealed;
pub mod selection;
pub mod signing;
pub mod task;
pub mod webhook_url;
pub mod window;
