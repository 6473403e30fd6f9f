//! The probe and metrics endpoints: a minimal HTTP/1.1 server for `/healthz`, `/readyz` and
//! `/metrics` (GET only, one request per connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::metrics::Metrics;

/// What the endpoints report.
pub trait Health: Send + Sync + 'static {
    /// Ready to serve: keys loaded and the caches synced (or standing by as a follower).
    fn ready(&self) -> bool;
    fn metrics(&self) -> &Metrics;
}

/// Serves `paths` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, health: Arc<dyn Health>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let health = Arc::clone(&health);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &*health)).await;
        });
    }
}

/// Binds `addr` (so a taken port fails at start, not later).
///
/// # Errors
/// The bind error, with the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

async fn answer(mut stream: TcpStream, health: &dyn Health) -> std::io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut len = 0;
    // Read up to the end of the request line; the rest of the request is ignored.
    while !buf[..len].contains(&b'\n') && len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&buf[..len]);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = route(method, path, health);
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The answer for one request: status line, content type, body.
pub fn route(
    method: &str,
    path: &str,
    health: &dyn Health,
) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" {
        return ("405 Method Not Allowed", TEXT, "only GET\n".into());
    }
    match path {
        "/healthz" | "/livez" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" if health.ready() => ("200 OK", TEXT, "ready\n".into()),
        "/readyz" => ("503 Service Unavailable", TEXT, "not ready\n".into()),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", health.metrics().render()),
        _ => ("404 Not Found", TEXT, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Fake {
        ready: AtomicBool,
        metrics: Metrics,
    }

    impl Health for Fake {
        fn ready(&self) -> bool {
            self.ready.load(Ordering::Relaxed)
        }
        fn metrics(&self) -> &Metrics {
            &self.metrics
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn probes_and_metrics_answer_over_http() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Arc::new(Fake { ready: AtomicBool::new(false), metrics: Metrics::default() });
        let task = tokio::spawn(serve(listener, fake.clone()));
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        fake.ready.store(true, Ordering::Relaxed);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200 OK"));
        let metrics = get(addr, "/metrics").await;
        assert!(
            metrics.contains("sealgate_reconciles_total{reason=\"Materialized\"} 0"),
            "{metrics}"
        );
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        task.abort();
    }
}
