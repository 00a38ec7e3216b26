//! A real SMTP server for tests: mailin-embedded on 127.0.0.1, keeping every
//! accepted mail so a test can assert exactly what arrived.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::MessageParser;
use mailin_embedded::{Handler, Response, Server, response};

/// One mail as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        let message = MessageParser::default()
            .parse(&self.raw)
            .expect("mail parses");
        message
            .header_raw(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    pub fn key(&self) -> String {
        self.header("X-Yuqing-Notice")
    }
}

/// An SMTP session handler that keeps every accepted mail. `reject` recipients get
/// `550`; `busy` recipients get `451` for the first `busy_times` attempts.
#[derive(Clone, Default)]
pub struct Collector {
    got: Arc<Mutex<Vec<Received>>>,
    reject: Arc<HashSet<String>>,
    busy: Arc<HashSet<String>>,
    busy_times: Arc<AtomicU32>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.reject.contains(to) {
            return response::NO_MAILBOX;
        }
        if self.busy.contains(to)
            && self
                .busy_times
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Response::custom(451, "Mailbox busy, try later".into());
        }
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.got.lock().unwrap().push(Received {
            to: std::mem::take(&mut self.to),
            raw: std::mem::take(&mut self.data),
        });
        response::OK
    }
}

impl Collector {
    /// Answers `550` for this recipient.
    pub fn rejecting(recipient: &str) -> Collector {
        Collector {
            reject: Arc::new(HashSet::from([recipient.to_string()])),
            ..Collector::default()
        }
    }

    /// Answers `451` for this recipient, the first `times` attempts.
    pub fn busy(recipient: &str, times: u32) -> Collector {
        Collector {
            busy: Arc::new(HashSet::from([recipient.to_string()])),
            busy_times: Arc::new(AtomicU32::new(times)),
            ..Collector::default()
        }
    }

    pub fn keys(&self) -> Vec<String> {
        self.got.lock().unwrap().iter().map(Received::key).collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Serves SMTP on `listener` for the rest of the test process.
pub fn serve(listener: TcpListener, collector: Collector) {
    std::thread::spawn(move || {
        let mut server = Server::new(collector);
        server.with_num_threads(4).with_tcp_listener(listener);
        // The error type is not Send: report it here.
        if let Err(err) = server.serve() {
            eprintln!("test SMTP server stopped: {err}");
        }
    });
}

pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Waits for `condition`; the guard only keeps a broken test from hanging.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for {what}");
}
