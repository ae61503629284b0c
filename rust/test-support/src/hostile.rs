//! Misbehaving git servers on 127.0.0.1, written for the tests: what a hostile mirror can do to
//! a client that the real servers (`git daemon`, `git http-backend`, `sshd`) never do. Each
//! listens on a free port, serves every connection the same way, and stops when dropped.
//!
//! - [`Behaviour::EndlessAdvertisement`]: a protocol v0 ref advertisement that never ends.
//! - [`Behaviour::EndlessListing`]: a protocol v2 `ls-refs` answer that never ends.
//! - [`Behaviour::Trickle`]: a v2 listing that never ends, one byte every 100 ms (never silent
//!   long enough for a time-out).
//! - [`Behaviour::DeltaBomb`]: a v2 server whose pack is a one-byte blob and a delta of it that
//!   claims to make a 1 GiB object: under 100 bytes on the wire.
//! - [`Behaviour::Scribble`]: a v2 server answering `ls-refs` with an `ERR` line full of
//!   terminal escapes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How a hostile server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// A v0 ref advertisement without end.
    EndlessAdvertisement,
    /// A v2 `ls-refs` answer without end.
    EndlessListing,
    /// A v2 `ls-refs` answer without end, a byte at a time.
    Trickle,
    /// A tiny pack whose delta claims an 8 GiB result.
    DeltaBomb,
    /// An `ERR` line that would rewrite a terminal.
    Scribble,
}

/// How it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `git://`.
    Git,
    /// `http://` (smart HTTP; only the advertisement behaviours).
    Http,
}

/// A hostile server; stops when dropped.
pub struct Hostile {
    port: u16,
    protocol: Protocol,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// One packet line.
pub fn pkt(data: &[u8]) -> Vec<u8> {
    let mut line = format!("{:04x}", data.len() + 4).into_bytes();
    line.extend_from_slice(data);
    line
}

/// A ref line of a listing: `<id> <name>\n`.
fn ref_line(n: u64) -> Vec<u8> {
    pkt(format!("{:040x} refs/eka/atoms/a{n}/1.0.0\n", n + 1).as_bytes())
}

/// The escape sequences an `ERR` line of [`Behaviour::Scribble`] carries.
pub const SCRIBBLE: &str = "\x1b[2J\x1b[Hall atoms verified\x07";

/// The ids the delta bomb's refs name: its commit (never sent) and the genesis.
pub const BOMB_COMMIT: &str = "1111111111111111111111111111111111111111";

impl Hostile {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start(behaviour: Behaviour, protocol: Protocol) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut handlers = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let stop = stopping.clone();
                        handlers.push(std::thread::spawn(move || {
                            stream.set_nonblocking(false).unwrap();
                            let _ = serve(stream, behaviour, protocol, &stop);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            for handler in handlers {
                let _ = handler.join();
            }
        });
        Hostile {
            port,
            protocol,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL of the repository `name` there.
    pub fn url(&self, name: &str) -> String {
        match self.protocol {
            Protocol::Git => format!("git://127.0.0.1:{}/{name}", self.port),
            Protocol::Http => format!("http://127.0.0.1:{}/{name}", self.port),
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `data` unless the server is stopping; an error ends the connection.
fn send(stream: &mut TcpStream, data: &[u8], stop: &AtomicBool) -> std::io::Result<()> {
    if stop.load(Ordering::Relaxed) {
        return Err(std::io::Error::other("stopping"));
    }
    stream.write_all(data)
}

/// Reads packet lines until a flush packet; the payloads.
fn read_request(reader: &mut impl Read) -> std::io::Result<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    loop {
        let mut len = [0u8; 4];
        reader.read_exact(&mut len)?;
        let len = usize::from_str_radix(std::str::from_utf8(&len).unwrap_or("0"), 16).unwrap_or(0);
        if len == 0 {
            return Ok(lines);
        }
        if len < 4 {
            continue; // a delimiter
        }
        let mut data = vec![0u8; len - 4];
        reader.read_exact(&mut data)?;
        lines.push(data);
    }
}

fn serve(
    stream: TcpStream,
    behaviour: Behaviour,
    protocol: Protocol,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    match protocol {
        Protocol::Http => {
            // The request's head; whatever it asks, the answer is an advertisement.
            let mut line = String::new();
            while reader.read_line(&mut line)? > 0 && line != "\r\n" {
                line.clear();
            }
            send(
                &mut stream,
                b"HTTP/1.0 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\nCache-Control: no-cache\r\n\r\n",
                stop,
            )?;
            send(&mut stream, &pkt(b"# service=git-upload-pack\n"), stop)?;
            send(&mut stream, b"0000", stop)?;
            match behaviour {
                Behaviour::Trickle => trickle(&mut stream, stop),
                _ => endless_v0(&mut stream, stop),
            }
        }
        Protocol::Git => {
            // The daemon request: `git-upload-pack /path\0host=…\0\0version=2\0`.
            let mut len = [0u8; 4];
            reader.read_exact(&mut len)?;
            let len = usize::from_str_radix(std::str::from_utf8(&len).unwrap_or("0"), 16)
                .unwrap_or(4)
                .max(4);
            let mut request = vec![0u8; len - 4];
            reader.read_exact(&mut request)?;
            if behaviour == Behaviour::EndlessAdvertisement {
                return endless_v0(&mut stream, stop);
            }
            let mut capabilities = Vec::new();
            for line in [
                "version 2\n",
                "agent=hostile\n",
                "ls-refs\n",
                "fetch\n",
                "object-format=sha1\n",
            ] {
                capabilities.extend(pkt(line.as_bytes()));
            }
            capabilities.extend(b"0000");
            send(&mut stream, &capabilities, stop)?;
            // `command=ls-refs`.
            read_request(&mut reader)?;
            match behaviour {
                Behaviour::EndlessListing => {
                    for n in 0.. {
                        send(&mut stream, &ref_line(n), stop)?;
                    }
                    Ok(())
                }
                Behaviour::Trickle => trickle(&mut stream, stop),
                Behaviour::Scribble => send(
                    &mut stream,
                    &pkt(format!("ERR {SCRIBBLE}\n").as_bytes()),
                    stop,
                ),
                Behaviour::DeltaBomb => {
                    let mut refs = pkt(format!("{BOMB_COMMIT} refs/ekala/init\n").as_bytes());
                    refs.extend(pkt(
                        format!("{BOMB_COMMIT} refs/eka/atoms/bomb/1.0.0\n").as_bytes()
                    ));
                    refs.extend(b"0000");
                    send(&mut stream, &refs, stop)?;
                    // `command=fetch`: the answer is the bomb.
                    read_request(&mut reader)?;
                    let mut answer = pkt(b"packfile\n");
                    let mut band = vec![1u8];
                    band.extend(delta_bomb());
                    answer.extend(pkt(&band));
                    answer.extend(b"0000");
                    send(&mut stream, &answer, stop)
                }
                Behaviour::EndlessAdvertisement => unreachable!(),
            }
        }
    }
}

/// A v0 advertisement without end.
fn endless_v0(stream: &mut TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
    send(
        stream,
        &pkt(format!("{:040x} HEAD\0multi_ack side-band-64k ofs-delta\n", 1).as_bytes()),
        stop,
    )?;
    let mut batch = Vec::new();
    for n in 0.. {
        batch.extend(ref_line(n));
        if batch.len() > 64 << 10 {
            send(stream, &batch, stop)?;
            batch.clear();
        }
    }
    Ok(())
}

/// Ref lines without end, a byte every 100 ms.
fn trickle(stream: &mut TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
    for n in 0.. {
        for byte in ref_line(n) {
            send(stream, &[byte], stop)?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// A pack of two objects: the blob `a`, and a delta on it whose header claims an 8 GiB result.
pub fn delta_bomb() -> Vec<u8> {
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes()); // version
    pack.extend(2u32.to_be_bytes()); // objects
                                     // The blob: type 3, size 1.
    let blob_offset = pack.len();
    pack.push(0x31);
    pack.extend(zlib_stored(b"a"));
    // The delta: type 6 (an offset delta), its data's size, the distance back to the blob.
    let delta_offset = pack.len();
    let mut delta = vec![0x01]; // base size 1
    let mut size = 8u64 << 30; // result size, a varint
    while size >= 0x80 {
        delta.push((size as u8 & 0x7f) | 0x80);
        size >>= 7;
    }
    delta.push(size as u8);
    delta.extend([0x90, 0x01]); // copy 1 byte from offset 0
    assert!(delta.len() < 16);
    pack.push(0x60 | delta.len() as u8);
    pack.push((delta_offset - blob_offset) as u8);
    pack.extend(zlib_stored(&delta));
    pack.extend(sha1(&pack));
    pack
}

/// `data` as a zlib stream of one stored (uncompressed) block.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01, 0x01];
    let len = data.len() as u16;
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    // Adler-32.
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend(((b << 16) | a).to_be_bytes());
    out
}

/// SHA-1 of `data` (the pack's trailer), through `git hash-object`'s sibling: `sha1sum`.
fn sha1(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().unwrap();
    let hex = String::from_utf8(output.stdout).unwrap();
    (0..20)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// An executable script `name` in `dir` with `text`; its path.
fn script(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// An ssh command that says nothing at all, ever (a server whose forced command hangs).
pub fn silent_ssh_command(dir: &Path) -> String {
    script(
        dir,
        "silent-ssh",
        "#!/bin/sh
exec sleep 60
",
    )
}

/// An ssh command that sends a ref advertisement without end, a byte every 100 ms.
pub fn trickling_ssh_command(dir: &Path) -> String {
    script(
        dir,
        "trickling-ssh",
        "#!/usr/bin/env python3\nimport sys, time\nn = 0\nwhile True:\n    line = ('%040x refs/heads/a%d\\n' % (n + 1, n)).encode()\n    for b in b'%04x' % (len(line) + 4) + line:\n        sys.stdout.buffer.write(bytes([b])); sys.stdout.flush(); time.sleep(0.1)\n    n += 1\n",
    )
}

/// An ssh command that writes terminal escapes on its standard error, then fails.
pub fn scribbling_ssh_command(dir: &Path) -> String {
    script(
        dir,
        "scribbling-ssh",
        &format!("#!/bin/sh\nprintf '%s\\n' '{SCRIBBLE}' >&2\nexit 255\n"),
    )
}

/// An ssh command (for `GIT_SSH_COMMAND`) that, whatever it is asked, prints a v0 ref
/// advertisement without end: a script written into `dir`.
pub fn endless_ssh_command(dir: &Path) -> String {
    let first = dir.join("first");
    let chunk = dir.join("chunk");
    std::fs::write(
        &first,
        pkt(format!("{:040x} HEAD\0multi_ack side-band-64k ofs-delta\n", 1).as_bytes()),
    )
    .unwrap();
    let mut lines = Vec::new();
    for n in 0..1000 {
        lines.extend(ref_line(n));
    }
    std::fs::write(&chunk, lines).unwrap();
    script(
        dir,
        "endless-ssh",
        &format!(
            "#!/bin/sh\ncat '{}' || exit 0\nwhile cat '{}'; do :; done\n",
            first.display(),
            chunk.display()
        ),
    )
}
