//! A raw HTTP/1.1 client over one TCP connection: it sends exactly the bytes a test gives
//! it, keeps the connection alive between requests, and reads responses (and the chunks of a
//! streamed one) as they arrive.

use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a read may wait before the test is declared stuck (a safety net, never a way to
/// wait for something).
pub const STUCK: Duration = Duration::from_secs(20);

/// One kept-alive connection to a test server.
pub struct RawClient {
    stream: TcpStream,
    buffer: Vec<u8>,
    host: String,
}

/// A response's status line and headers.
#[derive(Debug, Clone)]
pub struct RawHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub head: RawHead,
    pub body: Vec<u8>,
}

impl RawHead {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
    }
}

impl RawResponse {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): status {}, body {:?}",
                self.head.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a JSON error of `status` and `kind`, and returns its `error` object.
    pub fn expect_error(&self, status: u16, kind: &str) -> Value {
        assert_eq!(self.head.status, status, "{:?}", self.head);
        assert!(
            self.head
                .header("content-type")
                .is_some_and(|value| value.starts_with("application/json")),
            "{:?}",
            self.head
        );
        let error = self.json()["error"].clone();
        assert_eq!(error["type"], kind, "{error}");
        error
    }
}

impl RawClient {
    /// Connects to the server at `url` (`http://host:port`).
    pub async fn connect(url: &str) -> Self {
        let host = url.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).await.unwrap();
        Self {
            stream,
            buffer: Vec::new(),
            host,
        }
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends a request with `Host`, an optional bearer token and an optional JSON body.
    pub async fn send_request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) {
        let request = self.request_bytes(method, path, token, body);
        self.send(&request).await;
    }

    /// The bytes of the request [`send_request`](Self::send_request) sends.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Vec<u8> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        if let Some(token) = token {
            request.push_str(&format!("authorization: Bearer {token}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        request.into_bytes()
    }

    /// Sends a request and reads its whole response.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> RawResponse {
        self.send_request(method, path, token, body).await;
        self.read_response().await
    }

    /// Reads one whole response (`Content-Length` or chunked).
    pub async fn read_response(&mut self) -> RawResponse {
        let head = self.read_head().await;
        let body = if head.is_chunked() {
            let mut body = Vec::new();
            while let Some(chunk) = self.read_chunk().await {
                body.extend_from_slice(&chunk);
            }
            body
        } else {
            let length = head
                .header("content-length")
                .map_or(0, |value| value.parse::<usize>().unwrap());
            self.read_exact(length).await
        };
        RawResponse { head, body }
    }

    /// Reads a response's status line and headers.
    pub async fn read_head(&mut self) -> RawHead {
        let end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end;
            }
            assert!(
                self.fill().await,
                "the server closed before a response head"
            );
        };
        let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
        let text = String::from_utf8(head).unwrap();
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        RawHead { status, headers }
    }

    /// Reads the next chunk of a chunked body; `None` at its end.
    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let line = self.read_line().await;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        if size == 0 {
            // Trailers (none expected), then the empty line.
            while !self.read_line().await.is_empty() {}
            return None;
        }
        let chunk = self.read_exact(size).await;
        assert_eq!(self.read_exact(2).await, b"\r\n");
        Some(chunk)
    }

    /// Waits until the server closes the connection, and returns whatever it sent before.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buffer)
    }

    async fn read_line(&mut self) -> String {
        let end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n") {
                break end;
            }
            assert!(self.fill().await, "the server closed mid-line");
        };
        let line: Vec<u8> = self.buffer.drain(..end + 2).collect();
        String::from_utf8(line[..end].to_vec()).unwrap()
    }

    async fn read_exact(&mut self, length: usize) -> Vec<u8> {
        while self.buffer.len() < length {
            assert!(self.fill().await, "the server closed mid-body");
        }
        self.buffer.drain(..length).collect()
    }

    /// Reads more bytes; false once the server closed (EOF or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0_u8; 16 * 1024];
        let read = tokio::time::timeout(STUCK, self.stream.read(&mut chunk))
            .await
            .expect("the server neither answered nor closed");
        match read {
            Ok(0) | Err(_) => false,
            Ok(read) => {
                self.buffer.extend_from_slice(&chunk[..read]);
                true
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
