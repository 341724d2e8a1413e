//! Why a request could not be read. The codec crate reports decode failures
//! as `anyhow::Error`; they are turned into [`DecodeError`] here so nothing
//! above the protocol layer sees anyhow.

use kafka_protocol::messages::ApiKey;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame size {size} is negative or above socket.request.max.bytes ({max})")]
    FrameSize { size: i64, max: usize },
    #[error("request of {len} bytes is too short for a request header")]
    TooShort { len: usize },
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {key:?}")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("cannot decode {key:?} v{version}: {reason}")]
    Malformed { key: ApiKey, version: i16, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode {key:?} v{version} response: {reason}")]
    Encode { key: ApiKey, version: i16, reason: String },
}
