//! The crate's only unsafe code: the tun/tap ioctls, which nix exposes only as unsafe macros.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

nix::ioctl_write_ptr_bad!(tunsetiff, libc::TUNSETIFF, libc::ifreq);
nix::ioctl_write_int_bad!(tunsetoffload, libc::TUNSETOFFLOAD);

/// TUNSETIFF: attaches the fd of an open `/dev/net/tun` to interface `name` (created if missing)
/// with `flags` (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR...). Returns the name the kernel used.
pub(crate) fn tun_set_iff(
    fd: BorrowedFd<'_>,
    name: &str,
    flags: libc::c_int,
) -> nix::Result<String> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(nix::Error::ENAMETOOLONG);
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
    unsafe { tunsetiff(fd.as_raw_fd(), &req) }?;
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
pub(crate) fn tun_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> nix::Result<()> {
    // SAFETY: fd is an open descriptor borrowed for the call; TUNSETOFFLOAD takes its argument by
    // value and touches no user memory.
    unsafe { tunsetoffload(fd.as_raw_fd(), flags as libc::c_int) }.map(drop)
}

/// Takes ownership of a descriptor received via SCM_RIGHTS.
pub(crate) fn own_received_fd(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: the kernel just installed `fd` in our table for this message; nothing else refers to
    // it, so exactly one owner is created here.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}
