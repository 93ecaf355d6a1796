//! A loopback HTTP server that records what real clients send it: the request line and the
//! headers, so that a test can see whether npm sent a token, or a client gave a proxy the
//! password it was meant to. It answers 404 to everything, or, as a proxy, first asks for a
//! login (407 with a Basic challenge, which curl and git wait for before they send one).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET /x HTTP/1.1`, or with an absolute URL when sent to a proxy.
    pub line: String,
    /// Header names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `user:password` a Basic `Proxy-Authorization` or `Authorization` header carries (the
    /// scheme's name in any case, as RFC 9110 section 11.1 reads it).
    pub fn basic_login(&self, header: &str) -> Option<String> {
        let value = self.header(header)?;
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()
    }
}

/// The recorder, listening until dropped.
#[derive(Debug)]
pub struct Recorder {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

/// The largest request head read: a real client's is far smaller.
const MAX_HEAD: usize = 64 * 1024;

impl Recorder {
    /// A recorder on a free loopback port.
    pub fn start(as_proxy: bool) -> Self {
        Self::on(
            TcpListener::bind("127.0.0.1:0").expect("a loopback port"),
            as_proxy,
        )
    }

    /// A recorder on `port` of 127.0.0.1 (80, to test how clients treat a default port).
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|error| panic!("cannot listen on 127.0.0.1:{port}: {error}"));
        Self::on(listener, false)
    }

    fn on(listener: TcpListener, as_proxy: bool) -> Self {
        let port = listener.local_addr().expect("an address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let requests = requests.clone();
                            std::thread::spawn(move || serve(stream, as_proxy, &requests));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        Self {
            port,
            requests,
            stop,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("not poisoned").clone()
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.requests.lock().expect("not poisoned").clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads requests on one connection until it closes, answering each.
fn serve(stream: TcpStream, as_proxy: bool, requests: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = Vec::new();
        let mut line = String::new();
        let mut size = 0;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(read) => size += read,
            }
            if size > MAX_HEAD {
                return;
            }
            let text = line.trim_end_matches(['\r', '\n']).to_owned();
            if text.is_empty() {
                break;
            }
            head.push(text);
        }
        let Some((first, rest)) = head.split_first() else {
            return;
        };
        let request = Request {
            line: first.clone(),
            headers: rest
                .iter()
                .filter_map(|header| header.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect(),
        };
        let challenge = as_proxy && request.header("proxy-authorization").is_none();
        let length: usize = request
            .header("content-length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        requests.lock().expect("not poisoned").push(request);
        if length > 0 {
            let mut body = vec![0; length.min(MAX_HEAD)];
            if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                return;
            }
        }
        let answer = match challenge {
            true => "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"switchyard-test\"\r\nContent-Length: 0\r\n\r\n",
            false => "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
