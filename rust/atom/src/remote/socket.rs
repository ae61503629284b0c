//! The read half of a `git://` connection: buffered, and acknowledging what arrives at once.
//!
//! `git daemon` hands the connection to `git upload-pack`, which writes each answer in several
//! writes to a socket with Nagle's algorithm on: a write that follows one the client has not
//! acknowledged yet waits for that acknowledgement. Linux delays acknowledgements (40 ms and
//! more) on a connection where it expects to answer soon, so an `ls-refs` or `fetch` answer
//! longer than the server's first write stalled 40 ms in every conversation: most of the time of
//! `atom ls` against a daemon (BENCHMARKS.md, "where discovery time goes"). Asking for quick
//! acknowledgements (`TCP_QUICKACK`, which Linux turns off again by itself, hence before every
//! read) removes the stall; setting it also sends an acknowledgement that is being held back.
//! Elsewhere it is a no-op. The buffer spares a system call per packet line.

use std::io::{BufReader, Read};
use std::net::TcpStream;

/// A `git://` socket's read half ([`QuickAck`], buffered).
pub(super) type Reader = BufReader<QuickAck>;

/// The read half of a `git://` connection.
pub(super) fn reader(stream: TcpStream) -> Reader {
    BufReader::with_capacity(64 << 10, QuickAck(stream))
}

/// A socket that asks for quick acknowledgements before each read.
pub(super) struct QuickAck(TcpStream);

impl Read for QuickAck {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        quick_ack(&self.0);
        self.0.read(buf)
    }
}

#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the open TCP socket `stream` owns for the whole call; the option
    // value points at a live `c_int` and its length is that type's size, which is what
    // `TCP_QUICKACK` takes. A failure only leaves the kernel's delayed acknowledgements in place,
    // so its result is ignored.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}
