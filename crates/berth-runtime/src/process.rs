//! The parent ↔ container-init handshake: a SOCK_SEQPACKET socketpair carrying one closed
//! enum each way, so every step of create is acknowledged and every failure inside the
//! init reaches the parent as a message instead of a bare exit status.

use std::os::fd::OwnedFd;

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// From the container init to berth.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// Namespaces are joined/created: write id maps, join the cgroup, then `Continue`.
    NamespacesReady,
    /// Mounts are done, the root is not yet entered: run prestart/createRuntime hooks,
    /// then `Continue`.
    RunCreateHooks,
    /// Everything is set up; the init now waits for `start`.
    Ready,
    /// The seccomp filter has SCMP_ACT_NOTIFY rules: its notify fd follows (SCM_RIGHTS,
    /// `Channel::recv_fd`) for berth to hand to the listener at `listenerPath`.
    SeccompNotify,
    /// Setup failed; the init exits after sending this.
    Failed(String),
}

/// From berth to the container init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    Continue,
    /// The state JSON for hooks that run inside the container (createContainer,
    /// startContainer): only the parent knows the init's host pid.
    HookState(String),
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("handshake socket: {0}")]
    Io(#[from] nix::Error),
    #[error("handshake message: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("the other side closed the handshake (the container init died?)")]
    Closed,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel), ChannelError> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg)?;
        send(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &bytes,
            MsgFlags::MSG_NOSIGNAL,
        )?;
        Ok(())
    }

    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut buf,
                MsgFlags::empty(),
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        Ok(serde_json::from_slice(&buf[..n])?)
    }

    /// Sends one fd (SCM_RIGHTS) with a one-byte payload.
    pub fn send_fd(&self, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), ChannelError> {
        use nix::sys::socket::{sendmsg, ControlMessage};
        let fds = [std::os::fd::AsRawFd::as_raw_fd(&fd)];
        sendmsg::<()>(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &[std::io::IoSlice::new(b"F")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }

    /// Receives the fd `send_fd` sent.
    pub fn recv_fd(&self) -> Result<OwnedFd, ChannelError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned};
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(fd) = fds.first() {
                    return Ok(crate::sys::own_fd(*fd));
                }
            }
        }
        Err(ChannelError::Closed)
    }
}
