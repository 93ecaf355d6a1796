//! A port on loopback that relays TCP to a real registry, which a test can close (the port then
//! refuses connections, as a mirror that is down does), open again on the same port, or make
//! drop every other connection (a mirror that answers every other time).

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// How a [`FlakyPort`] treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PortMode {
    /// Every connection goes through.
    Open,
    /// Nothing listens on the port (which stays held, so no other program takes it).
    Closed,
    /// Every other connection is closed as soon as it is accepted, starting with the next.
    EveryOther,
}

impl PortMode {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Open,
            1 => Self::Closed,
            _ => Self::EveryOther,
        }
    }
}

/// The relay; it stops when dropped.
#[derive(Debug)]
pub struct FlakyPort {
    /// Its port on 127.0.0.1.
    pub port: u16,
    wanted: Arc<AtomicU8>,
    applied: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FlakyPort {
    /// A relay to `upstream` on 127.0.0.1, open.
    pub fn to(upstream: u16) -> Self {
        let held = reserve(0).expect("a loopback port for the relay");
        let port = held
            .local_addr()
            .ok()
            .and_then(|address| address.as_socket())
            .map(|address| address.port())
            .expect("the relay's port");
        let wanted = Arc::new(AtomicU8::new(PortMode::Open as u8));
        let applied = Arc::new(AtomicU8::new(u8::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (wanted, applied, stop) = (wanted.clone(), applied.clone(), stop.clone());
            std::thread::spawn(move || serve(held, port, upstream, &wanted, &applied, &stop))
        };
        let relay = Self {
            port,
            wanted,
            applied,
            stop,
            thread: Some(thread),
        };
        relay.set(PortMode::Open);
        relay
    }

    /// `http://127.0.0.1:PORT/` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Switches to `mode`, returning once it holds (a closed port refuses from then on).
    pub fn set(&self, mode: PortMode) {
        self.wanted.store(mode as u8, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.applied.load(Ordering::SeqCst) != mode as u8 {
            assert!(
                Instant::now() < deadline,
                "the port relay on {} did not switch to {mode:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for FlakyPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The port: listening; bound without listening (connections to it are refused, and no
/// other program can take it meanwhile); or, just after closing, free until the connections
/// it carried have ended (Linux refuses to bind a port that established connections still
/// use, whatever `SO_REUSEADDR` says).
enum Held {
    Listening(TcpListener),
    Reserved(Socket),
    Free,
}

/// A socket bound to `port` on 127.0.0.1 (0 for any free one), not listening.
fn reserve(port: u16) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(socket)
}

/// `socket` listening, without blocking on accept.
fn listening(socket: Socket) -> TcpListener {
    socket.listen(128).expect("the relay listens");
    let listener = TcpListener::from(socket);
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    listener
}

/// Binds `port` again, waiting (up to 10 s) for the connections it carried to end.
fn bind_again(port: u16) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reserve(port) {
            Ok(socket) => return socket,
            Err(error) if Instant::now() >= deadline => {
                panic!("the port relay cannot listen on port {port} again: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve(
    held: Socket,
    port: u16,
    upstream: u16,
    wanted: &AtomicU8,
    applied: &AtomicU8,
    stop: &AtomicBool,
) {
    let mut held = Held::Reserved(held);
    let mut accepted: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let mode = PortMode::from_u8(wanted.load(Ordering::SeqCst));
        if applied.load(Ordering::SeqCst) != mode as u8 {
            held = match (mode, held) {
                (PortMode::Closed, Held::Listening(listener)) => {
                    drop(listener);
                    Held::Free
                }
                (PortMode::Open | PortMode::EveryOther, Held::Reserved(socket)) => {
                    Held::Listening(listening(socket))
                }
                (PortMode::Open | PortMode::EveryOther, Held::Free) => {
                    Held::Listening(listening(bind_again(port)))
                }
                (_, held) => held,
            };
            accepted = 0;
            applied.store(mode as u8, Ordering::SeqCst);
        }
        let listener = match &held {
            Held::Listening(listener) => listener,
            Held::Free => {
                // Hold the port again as soon as nothing uses it.
                if let Ok(socket) = reserve(port) {
                    held = Held::Reserved(socket);
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Held::Reserved(_) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
        };
        match listener.accept() {
            Ok((client, _)) => {
                accepted += 1;
                if mode == PortMode::EveryOther && accepted % 2 == 1 {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                std::thread::spawn(move || forward(client, upstream));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(error) => panic!("the port relay on {port} cannot accept: {error}"),
        }
    }
}

/// Copies both ways between `client` and the upstream port until either side ends.
fn forward(client: TcpStream, upstream: u16) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(mut client_in), Ok(mut server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (mut client_out, mut server_out) = (client, server);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut server_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
}
