//! The standard Kubernetes status condition, as our custom resources report it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One entry of `status.conditions` (the `metav1.Condition` shape).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready` for every sealgate resource.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A stable, CamelCase reason (see the README's table).
    pub reason: String,
    /// What happened and what to do; never a secret value.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
