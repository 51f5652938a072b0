//! Passing file descriptors over a Unix socket (SCM_RIGHTS), one implementation for every
//! sender and receiver: the console socket, the init's handshake, the tap switch.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

/// Most descriptors one message may carry: the kernel closes any beyond it (MSG_CTRUNC).
pub const MAX_FDS: usize = 4;

/// Sends `data` with `fds` attached in one message (no SIGPIPE).
pub fn send_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> rustix::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !cmsg.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(rustix::io::Errno::TOOBIG);
    }
    sendmsg(sock, &[IoSlice::new(data)], &mut cmsg, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Receives one message into `buf`: the bytes read and every descriptor it carried (at most
/// [`MAX_FDS`]), each close-on-exec and owned, so none leaks whatever the caller keeps.
pub fn recv_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> rustix::io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let msg = recvmsg(
        sock,
        &mut [IoSliceMut::new(buf)],
        &mut cmsg,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    // More than MAX_FDS: the kernel closed the rest, the message is not what was sent.
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(rustix::io::Errno::NOBUFS);
    }
    let mut fds = Vec::new();
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(raw) = m {
            fds.extend(raw);
        }
    }
    Ok((msg.bytes, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    #[test]
    fn every_descriptor_sent_arrives_owned() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        send_fds(a.as_fd(), b"hi", &[file.as_fd(), file.as_fd()]).unwrap();
        let mut buf = [0u8; 8];
        let (n, fds) = recv_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(fds.len(), 2);
        let flags = rustix::io::fcntl_getfd(&fds[0]).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }
}
