//! The SOPS v3 file format: the document model, the stores that read and write each file
//! format, value encryption, the MAC, and the metadata block.

pub mod cipher;
pub mod engine;
pub mod file;
pub mod mac;
pub mod metadata;
pub mod parallel;
pub mod path;
pub mod rules;
pub mod scalar;
pub mod store;
pub mod timestamp;
pub mod tree;

pub use scalar::{Scalar, ValueType};
pub use timestamp::Timestamp;
pub use tree::{Comment, Document, Item, Map, Node};
