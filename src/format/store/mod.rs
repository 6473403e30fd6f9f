//! Stores: parse a file's bytes into documents and emit documents back, one module per format,
//! free of crypto and keys (as sops keeps `stores/*`).

pub mod yaml;
