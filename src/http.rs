//! A small HTTP/1.1 server for Connect's REST API and the Prometheus
//! `/metrics` endpoints: one request at a time per connection (keep-alive),
//! bodies sized by Content-Length and capped. Nothing here knows Connect or
//! metrics; a handler maps a request to a response.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Larger bodies are refused with 413 before anything is read.
pub const MAX_BODY: usize = 1024 * 1024;
const MAX_HEADER_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;
const IDLE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path segments, without empty ones.
    pub segments: Vec<String>,
    /// Query parameters, percent-decoded.
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Empty for 204.
    pub body: String,
}

const JSON: &str = "application/json";

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::json_text(status, value.to_string())
    }

    /// A JSON body already serialized (or empty).
    pub fn json_text(status: u16, body: String) -> Self {
        Response { status, content_type: JSON, body }
    }

    /// Any other body, e.g. Prometheus's text format.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Self {
        Response { status, content_type, body }
    }

    pub fn no_content() -> Self {
        Self::json_text(204, String::new())
    }

    /// Kafka's error body: `{"error_code":404,"message":"..."}`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error_code": status, "message": message }))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        _ => "Internal Server Error",
    }
}

/// Serves until the listener fails; each connection runs on its own task.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let handler = Arc::new(handler);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = connection(stream, &*handler).await;
        });
    }
}

enum Parsed {
    Request(Request, bool),
    Reject(Response),
    Closed,
}

async fn connection<H, F>(stream: TcpStream, handler: &H) -> std::io::Result<()>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let parsed = match tokio::time::timeout(IDLE, read_request(&mut reader)).await {
            Ok(p) => p?,
            Err(_) => return Ok(()),
        };
        let (response, keep_alive) = match parsed {
            Parsed::Closed => return Ok(()),
            Parsed::Reject(r) => (r, false),
            Parsed::Request(req, keep_alive) => (handler(req).await, keep_alive),
        };
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
            response.status,
            reason(response.status),
            response.content_type,
            response.body.len(),
            if keep_alive { "" } else { "Connection: close\r\n" }
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(response.body.as_bytes()).await?;
        write.flush().await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = (&mut *reader).take(MAX_HEADER_LINE as u64).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "header line too long"));
    }
    Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()))
}

async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Parsed> {
    let Some(first) = read_line(reader).await? else { return Ok(Parsed::Closed) };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(Parsed::Reject(Response::error(400, "malformed request line")));
    };
    let mut keep_alive = version == "HTTP/1.1";
    let mut length = 0usize;
    let mut headers = 0;
    loop {
        let Some(line) = read_line(reader).await? else { return Ok(Parsed::Closed) };
        if line.is_empty() {
            break;
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Ok(Parsed::Reject(Response::error(400, "too many headers")));
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => match value.parse::<usize>() {
                Ok(n) if n <= MAX_BODY => length = n,
                Ok(_) => {
                    return Ok(Parsed::Reject(Response::error(
                        413,
                        &format!("request body larger than {MAX_BODY} bytes"),
                    )))
                }
                Err(_) => return Ok(Parsed::Reject(Response::error(400, "bad Content-Length"))),
            },
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v == "close" {
                    keep_alive = false;
                } else if v == "keep-alive" {
                    keep_alive = true;
                }
            }
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                return Ok(Parsed::Reject(Response::error(
                    400,
                    "chunked request bodies are not supported: send Content-Length",
                )))
            }
            _ => {}
        }
    }
    // `length` is capped above, so this allocation is bounded.
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments =
        path.split('/').filter(|s| !s.is_empty()).map(|s| percent_decode(s, false)).collect();
    let query = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    Ok(Parsed::Request(
        Request { method: method.to_ascii_uppercase(), segments, query, body },
        keep_alive,
    ))
}

/// `%XX` escapes (and `+` in a query) decoded; bad escapes are kept as text.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%20b", false), "a b");
        assert_eq!(percent_decode("a%2", false), "a%2");
        assert_eq!(percent_decode("%zz", false), "%zz");
        assert_eq!(percent_decode("x+y", true), "x y");
        assert_eq!(percent_decode("x+y", false), "x+y");
    }
}
