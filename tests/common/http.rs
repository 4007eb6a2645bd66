//! Talking to a running server without a client library: a blocking `GET` that gives the
//! status (for tests that are not async), and reading counters out of `/metrics` text.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The status of `GET path` on 127.0.0.1:port, or `None` when nothing answers.
pub fn status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// The value of metric `name` in a `/metrics` text, summed over the series whose labels
/// contain `labels`; 0 when absent.
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
