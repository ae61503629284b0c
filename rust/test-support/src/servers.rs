//! Real git servers for the network tests, on 127.0.0.1 and free ports, stopped when dropped:
//! `git daemon` (git://), `git http-backend` behind lighttpd (http://), and `sshd` (ssh://).
//!
//! Each serves the repositories under its own directory ([`Server::root`]); a test puts bare
//! repositories there and reaches them at [`Server::url`]. Nothing here contacts any other
//! address.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `git daemon`, git://.
    Daemon,
    /// `git http-backend` behind lighttpd, http://.
    Http,
    /// The same over TLS, https://, with a certificate made for the test ([`Server::ca`]).
    Https,
    /// `sshd`, ssh://.
    Ssh,
}

/// A running server; stopped (killed and reaped) on drop.
pub struct Server {
    /// Which server.
    pub kind: Kind,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The directory whose repositories it serves.
    pub root: PathBuf,
    /// For ssh: the `GIT_SSH_COMMAND` a client must use (its key, no host-key prompt).
    pub ssh_command: Option<String>,
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port` (or panics with the server's log).
fn wait_for(port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the server exited with {status}: {}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "nothing listens on 127.0.0.1:{port} after 20 s: {}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

fn git_exec_path() -> PathBuf {
    let out = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Server {
    /// Starts a server of `kind` serving the repositories under `dir/repos` (created), with its
    /// configuration and log in `dir`.
    pub fn start(kind: Kind, dir: &Path) -> Server {
        let root = dir.join("repos");
        fs::create_dir_all(&root).unwrap();
        let log = dir.join(format!("{kind:?}.log"));
        // A port can be taken between choosing and binding it: try a few.
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = Server::try_start(kind, dir, &root, port, &log) {
                return server;
            }
        }
        panic!(
            "could not start {kind:?}: {}",
            fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn try_start(kind: Kind, dir: &Path, root: &Path, port: u16, log: &Path) -> Option<Server> {
        let stderr = || fs::File::create(log).unwrap();
        let mut ssh_command = None;
        let mut child = match kind {
            // `git daemon` would run `git-daemon` as a child, which killing `git` leaves
            // running: the daemon itself is started, so that dropping the server ends it.
            Kind::Daemon => Command::new(git_exec_path().join("git-daemon"))
                .args([
                    "--reuseaddr",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                    &format!("--base-path={}", root.display()),
                    "--export-all",
                    "--enable=receive-pack",
                    "--informative-errors",
                ])
                .arg(root)
                .env("GIT_TRACE_PACKET", dir.join("packets.log"))
                .stdout(Stdio::null())
                .stderr(stderr())
                .spawn()
                .unwrap(),
            Kind::Http | Kind::Https => {
                let config = dir.join("lighttpd.conf");
                let tls = if kind == Kind::Https {
                    let pem = dir.join("server.pem");
                    if !pem.exists() {
                        let (key, cert) = (dir.join("server.key"), dir.join("server.crt"));
                        let status = Command::new("openssl")
                            .args([
                                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            ])
                            .args([
                                "-subj",
                                "/CN=127.0.0.1",
                                "-addext",
                                "subjectAltName=IP:127.0.0.1",
                            ])
                            .arg("-keyout")
                            .arg(&key)
                            .arg("-out")
                            .arg(&cert)
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status()
                            .unwrap();
                        assert!(status.success(), "openssl could not make a certificate");
                        let both =
                            fs::read_to_string(&cert).unwrap() + &fs::read_to_string(&key).unwrap();
                        fs::write(&pem, both).unwrap();
                    }
                    format!(
                        "server.modules += (\"mod_openssl\")\nssl.engine = \"enable\"\nssl.pemfile = \"{}\"\n",
                        pem.display()
                    )
                } else {
                    String::new()
                };
                fs::write(
                    &config,
                    format!(
                        r#"server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi")
server.bind = "127.0.0.1"
server.port = {port}
server.document-root = "{root}"
server.errorlog = "{log}"
alias.url = ("/git" => "{exec}/git-http-backend", "/private" => "{exec}/git-http-backend", "/v0" => "{exec}/git-http-backend")
cgi.assign = ("" => "")
setenv.add-environment = ("GIT_PROJECT_ROOT" => "{root}", "GIT_HTTP_EXPORT_ALL" => "1", "GIT_TRACE_PACKET" => "{trace}")
$HTTP["url"] =~ "^/v0/" {{
  setenv.set-request-header = ("Git-Protocol" => "")
}}

auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ("/private" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
{tls}"#,
                        root = root.display(),
                        log = log.display(),
                        exec = git_exec_path().display(),
                        users = dir.join("users").display(),
                        trace = dir.join("packets.log").display(),
                    ),
                )
                .unwrap();
                fs::write(dir.join("users"), "someone:secret\n").unwrap();
                Command::new("lighttpd")
                    .arg("-D")
                    .arg("-f")
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(stderr())
                    .spawn()
                    .unwrap()
            }
            Kind::Ssh => {
                let host_key = dir.join("host_key");
                let client_key = dir.join("client_key");
                for key in [&host_key, &client_key] {
                    if !key.exists() {
                        let status = Command::new("ssh-keygen")
                            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                            .arg(key)
                            .status()
                            .unwrap();
                        assert!(status.success());
                    }
                }
                fs::copy(
                    client_key.with_extension("pub"),
                    dir.join("authorized_keys"),
                )
                .unwrap();
                // sshd's privilege separation directory.
                let _ = fs::create_dir_all("/run/sshd");
                let config = dir.join("sshd_config");
                fs::write(
                    &config,
                    format!(
                        "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\n\
                         PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                         StrictModes no\nUsePAM no\nPidFile {pid}\nAllowUsers {user}\n",
                        host = host_key.display(),
                        keys = dir.join("authorized_keys").display(),
                        pid = dir.join("sshd.pid").display(),
                        user = user(),
                    ),
                )
                .unwrap();
                ssh_command = Some(format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
                    client_key.display()
                ));
                Command::new("/usr/sbin/sshd")
                    .arg("-D")
                    .arg("-e")
                    .arg("-f")
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(stderr())
                    .spawn()
                    .unwrap()
            }
        };
        // Wait until it listens; a server that exits at once (port taken) is tried again.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                wait_for(port, &mut child, log);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Some(Server {
            kind,
            port,
            root: root.to_owned(),
            ssh_command,
            child,
            log: log.to_owned(),
        })
    }

    /// The URL of the repository `name` (a directory under [`Server::root`]).
    pub fn url(&self, name: &str) -> String {
        match self.kind {
            Kind::Daemon => format!("git://127.0.0.1:{}/{name}", self.port),
            Kind::Http => format!("http://127.0.0.1:{}/git/{name}", self.port),
            Kind::Https => format!("https://127.0.0.1:{}/git/{name}", self.port),
            Kind::Ssh => format!(
                "ssh://{}@127.0.0.1:{}{}/{name}",
                user(),
                self.port,
                self.root.display()
            ),
        }
    }

    /// The URL of `name` on a path where the server speaks only protocol v0 (the `Git-Protocol`
    /// header is dropped before git sees it).
    pub fn v0_url(&self, name: &str) -> String {
        assert_eq!(self.kind, Kind::Http);
        format!("http://127.0.0.1:{}/v0/{name}", self.port)
    }

    /// The packets git exchanged on the server so far (`GIT_TRACE_PACKET`; git:// and http://).
    pub fn packets(&self) -> String {
        fs::read_to_string(self.root.parent().unwrap().join("packets.log")).unwrap_or_default()
    }

    /// The URL of `name` behind HTTP basic authentication (user `someone`, password `secret`).
    pub fn private_url(&self, name: &str) -> String {
        self.url(name).replacen("/git/", "/private/", 1)
    }

    /// For https: the certificate clients must trust (self-signed, made for the test).
    pub fn ca(&self) -> PathBuf {
        assert_eq!(self.kind, Kind::Https);
        self.root.parent().unwrap().join("server.crt")
    }

    /// The environment a git or atom client needs to reach this server (the ssh command).
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        match (&self.ssh_command, self.kind) {
            (Some(command), _) => vec![("GIT_SSH_COMMAND", command.clone())],
            (None, Kind::Https) => vec![("GIT_SSL_CAINFO", self.ca().display().to_string())],
            _ => Vec::new(),
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Makes `path` a bare repository that accepts pushes over every server kind.
pub fn serve_bare(path: &Path) {
    let status = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    for (key, value) in [
        ("http.receivepack", "true"),
        ("receive.advertiseAtomic", "true"),
    ] {
        let status = Command::new("git")
            .arg("--git-dir")
            .arg(path)
            .args(["config", key, value])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// A TCP relay on 127.0.0.1 in front of a server's port that passes what the server sends at
/// most `bytes_per_second` (what the client sends goes through at once): a slow network for the
/// tests that need a transfer to take a while. Stops accepting when dropped.
pub struct Throttle {
    /// The relay's port.
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Throttle {
    /// Starts relaying to `target`.
    pub fn start(target: u16, bytes_per_second: usize) -> Throttle {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = sent.clone();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for (mut from, mut to, limit) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        None,
                    ),
                    (server, client, Some(bytes_per_second)),
                ] {
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            if let Some(rate) = limit {
                                counter.fetch_add(n, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Throttle { port, stop, sent }
    }

    /// Bytes the server has sent through the relay so far.
    pub fn sent(&self) -> usize {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
