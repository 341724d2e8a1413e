//! ApiVersions: the APIs and version ranges this broker speaks.

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::broker::connection::ConnectionError;
use crate::protocol::api::{is_supported, SUPPORTED};
use crate::protocol::header::{decode_body, decode_header, encode_response, peek_preamble};
use crate::protocol::{EncodeError, ErrorCode};

fn response(error: ErrorCode) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = error.code();
    resp.api_keys = SUPPORTED
        .iter()
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(a.min)
                .with_max_version(a.max)
        })
        .collect();
    resp
}

pub fn handle(_version: i16, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    response(ErrorCode::None)
}

/// The answer to an ApiVersions request at a version this broker does not
/// speak: a v0 body with UNSUPPORTED_VERSION and the full list (KIP-511).
pub fn unsupported_version(correlation_id: i32) -> Result<BytesMut, EncodeError> {
    encode_response(
        ApiKey::ApiVersions,
        0,
        correlation_id,
        &response(ErrorCode::UnsupportedVersion),
    )
}

/// The whole answer (size prefix included) to one ApiVersions request
/// frame, which needs nothing but the frame: a broker that is still
/// starting can give it before it has a metadata image.
pub fn answer(frame: bytes::Bytes) -> Result<BytesMut, ConnectionError> {
    let pre = peek_preamble(&frame)?;
    let (key, version) = (ApiKey::ApiVersions, pre.api_version);
    if !is_supported(key, version) {
        return Ok(unsupported_version(pre.correlation_id)?);
    }
    let (header, body) = decode_header(key, version, frame)?;
    let req: ApiVersionsRequest = decode_body(key, version, body)?;
    Ok(encode_response(key, version, header.correlation_id, &handle(version, req))?)
}
