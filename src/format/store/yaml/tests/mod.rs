//! Tests of the YAML store against files written by the real sops 3.11 and go-yaml v3.

mod corpus;
mod errors;
mod fixtures;
mod properties;
mod values;
