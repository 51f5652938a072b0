//! The crate's only unsafe code: the tun/tap ioctls, which rustix does not offer.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// An ioctl's return value as a result: -1 is the errno.
fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// TUNSETIFF: attaches the fd of an open `/dev/net/tun` to interface `name` (created if missing)
/// with `flags` (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR...). Returns the name the kernel used.
pub(crate) fn tun_set_iff(
    fd: BorrowedFd<'_>,
    name: &str,
    flags: libc::c_int,
) -> io::Result<String> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    // SAFETY: ifreq is a plain C struct of integers/arrays/unions of integers, for which all-zero
    // bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // The union member TUNSETIFF reads; flags fit in a short by the kernel's definition.
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: fd is an open descriptor borrowed for the call; req is a valid, initialised ifreq
    // that outlives the call; TUNSETIFF reads and writes only within that struct.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &req) })?;
    let end = req
        .ifr_name
        .iter()
        .position(|c| *c == 0)
        .unwrap_or(libc::IFNAMSIZ);
    Ok(req.ifr_name[..end]
        .iter()
        .map(|c| *c as u8 as char)
        .collect())
}

/// TUNSETOFFLOAD: which offloads (TUN_F_*) the kernel may hand us in vnet-header frames.
pub(crate) fn tun_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: fd is an open descriptor borrowed for the call; TUNSETOFFLOAD takes its argument by
    // value and touches no user memory.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, flags) })
}

/// TUNGETIFF + TUNGETVNETHDRSZ: the IFF_* flags the tun fd was attached with and, for an
/// IFF_VNET_HDR device, the length of the virtio-net header on each frame. Fails (ENOTTY, EBADFD)
/// for a descriptor that is not an attached tun/tap fd.
pub(crate) fn tun_get_flags(fd: BorrowedFd<'_>) -> io::Result<(libc::c_int, usize)> {
    // SAFETY: as in tun_set_iff, all-zero bytes are a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: fd is borrowed for the call; TUNGETIFF writes at most one ifreq into `req`, which is
    // valid and writable for the whole call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req) })?;
    // SAFETY: TUNGETIFF filled the flags member of the union (the kernel writes ifr_flags).
    let flags = libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags }) & 0xffff;
    let mut hdr: libc::c_int = 0;
    if flags & libc::IFF_VNET_HDR != 0 {
        // SAFETY: fd is borrowed for the call; TUNGETVNETHDRSZ writes one int into `hdr`.
        check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETVNETHDRSZ, &mut hdr) })?;
    }
    Ok((flags, usize::try_from(hdr).unwrap_or(0)))
}
