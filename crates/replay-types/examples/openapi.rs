//! Prints the generated OpenAPI document (`make openapi` writes it to docs/openapi.json).
fn main() {
    print!("{}", replay_types::openapi::document_json());
}
