//! Identifiers: strings with a type prefix (`tn_`, `wh_`, `job_`) and 32
//! lowercase hex digits.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($name:ident, $prefix:literal, $example:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, example = $example)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id with the type's prefix.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::new_v4().simple()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(TenantId, "tn_", "tn_c50348dc410b49b6bfc000fc7dd0432d", "A tenant: `tn_` and 32 lowercase hex digits.");
string_id!(WebhookId, "wh_", "wh_3f2b9c4e8d1a4f6b9e0c7d5a2b1f8e3c", "A webhook: `wh_` and 32 lowercase hex digits.");
string_id!(JobId, "job_", "job_7c1e5a9d2b4f4e8a9c3d6b0f1e2a5c7d", "A replay job: `job_` and 32 lowercase hex digits.");
