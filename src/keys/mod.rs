//! Key sources that wrap and unwrap a file's data key: age, Shamir key groups, Vault transit.
