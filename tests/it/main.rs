//! Integration and end-to-end tests on the real local services: MariaDB,
//! Apache Kafka, DynamoDB Local, and LocalStack, to which every test deploys
//! template.yaml as a stack of its own (API Gateway, SQS and its event source
//! mapping, Lambda through the host executor, the EventBridge schedule).
//! `make test` starts the services (infra/local/up.sh) and builds the functions.

mod access;
mod api_http;
mod api_rules;
mod cli;
mod control;
mod correctness;
mod edges;
mod fair_shares;
mod faults;
mod fuzz;
mod kafka_auth;
mod ledger_contract;
mod ledger_races;
mod lifecycle;
mod log_index;
mod operations;
mod producers;
mod real_conditions;
mod resume;
mod retention;
mod schemathesis;
mod secrets;
mod selection;
mod ssrf;
mod stack;
mod store_contracts;
