//! activity-replay core: the domain as pure code, ports (traits) for the outside
//! world, and the adapters that implement them against MySQL, SQS, DynamoDB,
//! Kafka and HTTP. Function crates only wire these together.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod ports;
pub mod services;
pub mod telemetry;
pub mod wiring;

#[cfg(test)]
mod sim;

pub use error::{Error, Result};
