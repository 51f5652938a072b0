//! The parent ↔ container-init handshake: a SOCK_SEQPACKET socketpair carrying one closed
//! enum each way, so every step of create is acknowledged and every failure inside the
//! init reaches the parent as a message instead of a bare exit status.
//!
//! `start` reaches the init the same way, through a listening socket in the state dir
//! (`StartSocket`): it sends `Start` and reads until EOF, which the init's execve causes
//! (the accepted connection is close-on-exec), or until the init's `Failed`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::net::{
    bind, connect, listen, recv, send, socket_with, socketpair, sockopt, AddressFamily, RecvFlags,
    SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// From the container init to berth.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// Namespaces are joined/created: write id maps, then `Continue`; then join the cgroup
    /// and move the network devices in, then `Placed`.
    NamespacesReady,
    /// Mounts are done, the root is not yet entered: run prestart/createRuntime hooks,
    /// then `Continue`.
    RunCreateHooks,
    /// Everything is set up; the init now waits for `start`.
    Ready,
    /// The seccomp filter has SCMP_ACT_NOTIFY rules: its notify fd follows (SCM_RIGHTS,
    /// `Channel::recv_fd`) for berth to hand to the listener at `listenerPath`.
    SeccompNotify,
    /// Setup failed, or (to `start`) the program could not be executed; the init exits
    /// after sending this.
    Failed(String),
}

impl ToParent {
    /// A `Failed` whose text is bounded and on one line (`text::one_line`): an error that
    /// echoes a 4 MB config value would not fit in one handshake message, and the reason
    /// would be lost with it.
    pub fn failed(msg: &str) -> ToParent {
        ToParent::Failed(crate::text::one_line(msg))
    }
}

/// From berth to the container init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    Continue,
    /// After the `Continue` that answers `NamespacesReady`: the init is in its cgroup and has
    /// its network devices. The parent does that while the init builds the root (on a v1
    /// host the first cgroup.procs write waits for an RCU grace period, milliseconds), and
    /// the init waits for this only before what must run inside the cgroup.
    Placed,
    /// The state for hooks that run inside the container (createContainer, startContainer);
    /// the init puts in the pid it sees.
    HookState(Box<oci_spec::runtime::State>),
    /// From `start`: run the program.
    Start,
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("handshake socket: {0}")]
    Io(#[from] Errno),
    #[error("handshake message: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("the other side closed the handshake (the container init died?)")]
    Closed,
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel), ChannelError> {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // One message must fit in the sender's buffer (else EMSGSIZE), and the hook state
        // carries the annotations, up to 256 KiB in Kubernetes: as large as the host allows
        // (the kernel caps the request at net.core.wmem_max).
        for end in [&a, &b] {
            sockopt::set_socket_send_buffer_size(end, 4 << 20)?;
        }
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// Sends with write(2) rather than send(2): the one syscall any seccomp profile lets
    /// through, for the init's report after its filter is loaded.
    pub fn send_by_write<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg)?;
        rustix::io::write(&self.fd, &bytes)?;
        Ok(())
    }

    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg)?;
        send(&self.fd, &bytes, SendFlags::NOSIGNAL)?;
        Ok(())
    }

    /// Receives one message, whatever its size: its length is peeked first (MSG_TRUNC), as
    /// the hook state carries the config's annotations, which may be hundreds of KiB.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
        let len = self.recv_into(&mut [0u8; 1], RecvFlags::PEEK | RecvFlags::TRUNC)?;
        let mut buf = vec![0u8; len];
        let n = self.recv_into(&mut buf, RecvFlags::empty())?;
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        Ok(serde_json::from_slice(&buf[..n])?)
    }

    /// The message's length (with TRUNC, larger than `buf` when it did not fit).
    fn recv_into(&self, buf: &mut [u8], flags: RecvFlags) -> Result<usize, ChannelError> {
        loop {
            match recv(&self.fd, &mut *buf, flags) {
                Err(Errno::INTR) => continue,
                other => return Ok(other?.1),
            }
        }
    }

    /// Sends one fd (SCM_RIGHTS) with a one-byte payload.
    pub fn send_fd(&self, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), ChannelError> {
        Ok(berth_common::fdpass::send_fds(
            self.fd.as_fd(),
            b"F",
            &[fd],
        )?)
    }

    /// Receives the fd `send_fd` sent.
    pub fn recv_fd(&self) -> Result<OwnedFd, ChannelError> {
        let (_, fds) = berth_common::fdpass::recv_fds(self.fd.as_fd(), &mut [0u8; 1])?;
        fds.into_iter().next().ok_or(ChannelError::Closed)
    }
}

/// The listening end `start` connects to: bound in the container's state dir by create
/// before the clone, inherited by the init (a mapped root could not open a file in the 0700
/// state dir later). The socket file's presence is what marks a container "created".
#[derive(Debug)]
pub struct StartSocket {
    fd: OwnedFd,
}

impl StartSocket {
    pub fn listen(path: &Path) -> Result<StartSocket, ChannelError> {
        let fd = seqpacket()?;
        with_addr(path, |addr| bind(&fd, addr))?;
        listen(&fd, 4)?;
        Ok(StartSocket { fd })
    }

    /// Waits for `start`: the first connection that sends `Start`. A connection that closes
    /// without it (a `start` killed half-way) is dropped and the wait goes on.
    pub fn wait_start(&self) -> Result<Channel, ChannelError> {
        loop {
            let conn = match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                other => Channel { fd: other? },
            };
            if let Ok(ToChild::Start) = conn.recv::<ToChild>() {
                return Ok(conn);
            }
        }
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// `start`'s end: connected to the init waiting in `StartSocket::wait_start`.
pub fn connect_start(path: &Path) -> Result<Channel, ChannelError> {
    let fd = seqpacket()?;
    with_addr(path, |addr| connect(&fd, addr))?;
    Ok(Channel { fd })
}

fn seqpacket() -> Result<OwnedFd, ChannelError> {
    Ok(socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Calls `f` with the socket address of `path`. A path longer than sun_path (108 bytes: a
/// deep --root with a 64-character ID) is reached through its directory's /proc/self/fd
/// entry instead.
fn with_addr<T>(
    path: &Path,
    f: impl FnOnce(&SocketAddrUnix) -> rustix::io::Result<T>,
) -> Result<T, ChannelError> {
    if let Ok(addr) = SocketAddrUnix::new(path) {
        return Ok(f(&addr)?);
    }
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => return Err(Errno::NAMETOOLONG.into()),
    };
    let dir = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    Ok(f(&SocketAddrUnix::new(&short)?)?)
}
