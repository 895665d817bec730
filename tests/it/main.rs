//! Integration tests against the real local services (MariaDB, Kafka,
//! LocalStack SQS, DynamoDB Local) and end-to-end tests through the function
//! binaries under cargo lambda watch. Start the stack with infra/local/up.sh.

mod api_http;
mod api_rules;
mod correctness;
mod edges;
mod faults;
mod fuzz;
mod resume;
