//! Request headers and response framing around the codec crate's message
//! structs. A request is decoded in two steps so the broker can decide on
//! version support (and answer ApiVersions specially) before the body is read.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use super::{DecodeError, EncodeError};

/// The first fields of every request header, readable at any version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestPreamble {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads api key, version and correlation id without consuming the frame.
pub fn peek_preamble(frame: &[u8]) -> Result<RequestPreamble, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TooShort { len: frame.len() });
    }
    let mut b = frame;
    Ok(RequestPreamble {
        api_key: b.get_i16(),
        api_version: b.get_i16(),
        correlation_id: b.get_i32(),
    })
}

/// Decodes the request header of a frame whose API and version the caller
/// has already accepted; returns it and the body bytes.
pub fn decode_header(
    key: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<(RequestHeader, Bytes), DecodeError> {
    let header_version = key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| DecodeError::Malformed { key, version, reason: format!("{e:#}") })?;
    Ok((header, frame))
}

/// Decodes a request body of type `T`. Trailing bytes are ignored, as
/// Kafka's `RequestContext.parseRequest` ignores them.
pub fn decode_body<T: Decodable>(
    key: ApiKey,
    version: i16,
    mut body: Bytes,
) -> Result<T, DecodeError> {
    T::decode(&mut body, version).map_err(|e| DecodeError::Malformed {
        key,
        version,
        reason: format!("{e:#}"),
    })
}

/// Encodes a complete response frame: size prefix, response header (v0 for
/// ApiVersions at every version, as Kafka does) and body.
pub fn encode_response<M: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<BytesMut, EncodeError> {
    let err = |e: anyhow::Error| EncodeError::Encode { key, version, reason: format!("{e:#}") };
    let header_version = response_header_version(key, version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    encode_frame(&header, header_version, body, version).map_err(err)
}

/// A size-prefixed frame of a header and a body, the same for a request
/// as for a response.
pub fn encode_frame<H: Encodable, M: Encodable>(
    header: &H,
    header_version: i16,
    body: &M,
    version: i16,
) -> anyhow::Result<BytesMut> {
    let size = header.compute_size(header_version)? + body.compute_size(version)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    Ok(buf)
}

/// The response header version for an API version; ApiVersions is always 0
/// so a client can read the answer before it knows what the broker speaks.
pub fn response_header_version(key: ApiKey, version: i16) -> i16 {
    if key == ApiKey::ApiVersions {
        return kafka_protocol::messages::ApiVersionsResponse::header_version(version);
    }
    key.response_header_version(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{
        ApiVersionsRequest, FetchRequest, JoinGroupRequest, MetadataRequest,
    };
    use kafka_protocol::protocol::StrBytes;

    fn frame(key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, key.request_header_version(version)).unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_flexible_and_classic_headers() {
        for (version, why) in [(0, "classic header v1"), (3, "flexible header v2")] {
            let f = frame(ApiKey::ApiVersions, version, &ApiVersionsRequest::default());
            let pre = peek_preamble(&f).unwrap();
            assert_eq!(
                pre,
                RequestPreamble { api_key: 18, api_version: version, correlation_id: 42 },
                "{why}"
            );
            let (h, body) = decode_header(ApiKey::ApiVersions, version, f).unwrap();
            assert_eq!(h.client_id.as_deref(), Some("test"), "{why}");
            decode_body::<ApiVersionsRequest>(ApiKey::ApiVersions, version, body).expect(why);
        }
    }

    #[test]
    fn truncated_body_is_an_error_not_a_panic() {
        let mut req = MetadataRequest::default();
        req.topics = None;
        let f = frame(ApiKey::Metadata, 9, &req);
        for cut in 0..f.len() {
            if let Ok((_, body)) = decode_header(ApiKey::Metadata, 9, f.slice(..cut)) {
                assert!(
                    decode_body::<MetadataRequest>(ApiKey::Metadata, 9, body).is_err(),
                    "cut at {cut} of {}",
                    f.len()
                );
            }
        }
        assert!(peek_preamble(&f[..7]).is_err(), "seven bytes cannot hold a preamble");
    }

    /// Counts and lengths larger than the bytes left are refused before
    /// anything is sized from them; the 2^31-1 topic count used to make the
    /// process abort on a 154 GB allocation.
    #[test]
    fn hostile_counts_are_errors_not_allocations() {
        let classic = [0x7f, 0xff, 0xff, 0xff];
        let compact = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let cases: &[(ApiKey, i16, &[u8], &str)] = &[
            (ApiKey::Metadata, 1, &classic, "topic count 2^31-1"),
            (ApiKey::Metadata, 9, &compact, "compact topic count 2^32-2"),
            (
                ApiKey::Metadata,
                1,
                &[0, 0, 0, 1, 0x7f, 0xff, b'a'],
                "topic name longer than the frame",
            ),
            (
                ApiKey::Fetch,
                4,
                &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff],
                "fetch topics",
            ),
            (
                ApiKey::JoinGroup,
                0,
                &[0, 1, b'g', 0, 0, 0, 0, 0, 0, 0, 1, b'c', 0x7f, 0xff, 0xff, 0xff],
                "protocols",
            ),
        ];
        for &(key, version, body, why) in cases {
            let err = match key {
                ApiKey::Metadata => {
                    decode_body::<MetadataRequest>(key, version, Bytes::copy_from_slice(body)).err()
                }
                ApiKey::Fetch => {
                    decode_body::<FetchRequest>(key, version, Bytes::copy_from_slice(body)).err()
                }
                _ => decode_body::<JoinGroupRequest>(key, version, Bytes::copy_from_slice(body))
                    .err(),
            };
            let err = err.unwrap_or_else(|| panic!("{why}: decoded"));
            assert!(err.to_string().contains("bytes remaining"), "{why}: {err}");
        }
    }

    #[test]
    fn api_versions_response_header_is_v0_even_when_flexible() {
        assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1, "flexible APIs use header v1");
    }
}
