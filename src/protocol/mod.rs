//! The Kafka wire codec: framing, request headers, the table of supported
//! API versions, error codes, and the hand-written Fetch response writer that
//! splices file regions. Message structs come from the `kafka-protocol`
//! crate. This layer does no I/O and knows nothing of storage.

pub mod api;
pub mod error;
pub mod error_code;
pub mod fetch_writer;
pub mod frame;
pub mod header;

pub use error::{DecodeError, EncodeError};
pub use error_code::ErrorCode;
