//! An in-test SMTP server (mailin-embedded) that records what it receives.
#![allow(dead_code, missing_docs)]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server};

/// Received mails: (recipients, raw message).
pub type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

#[derive(Clone, Default)]
pub struct Sink {
    pub mails: Mails,
    current: Arc<Mutex<(Vec<String>, Vec<u8>)>>,
}

impl Handler for Sink {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.contains("reject") {
            NO_MAILBOX
        } else {
            OK
        }
    }
    fn data_start(&mut self, _d: &str, _f: &str, _is_8bit: bool, to: &[String]) -> Response {
        *self.current.lock().unwrap() = (to.to_vec(), Vec::new());
        OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().1.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let (to, data) = std::mem::take(&mut *self.current.lock().unwrap());
        self.mails
            .lock()
            .unwrap()
            .push((to, String::from_utf8_lossy(&data).into_owned()));
        OK
    }
}

/// Starts an SMTP server on a free loopback port; returns its port and mailbox.
pub fn smtp_server() -> (u16, Sink) {
    let sink = Sink::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = Server::new(sink.clone());
    server
        .with_name("sink.localhost")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, sink)
}
