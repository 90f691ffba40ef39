//! Passing descriptors over a unix socket (`SCM_RIGHTS`): a terminal's master from the process
//! that made it inside a container to the one that relays it, or to an OCI console socket; a
//! cgroup's `tasks` files to a new container process.

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

/// The most descriptors one message carries.
const MAX_FDS: usize = 16;

/// Sends `fd` over `socket`, with `name` as the message's bytes (runc sends the terminal's
/// path; receivers may ignore it).
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    send_fds(socket, &[fd], name)
}

/// Sends up to `MAX_FDS` descriptors over `socket` in one message whose bytes are `bytes` (at
/// least one byte goes, so that an empty list still arrives).
pub fn send_fds(socket: BorrowedFd<'_>, fds: &[BorrowedFd<'_>], bytes: &[u8]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    let bytes = if bytes.is_empty() { b"\0" } else { bytes };
    // A receiver that went away is an error here, not a SIGPIPE.
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Receives one descriptor sent with `send_fd`.
pub fn recv_fd(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    recv_fds(socket)?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::other("no descriptor arrived"))
}

/// Receives the descriptors of one message sent with `send_fds` (close-on-exec); end of file
/// (the sender went away) is an error.
pub fn recv_fds(socket: BorrowedFd<'_>) -> io::Result<Vec<OwnedFd>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut bytes = [0u8; 256];
    let received = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut bytes)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if received.bytes == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the sender went away",
        ));
    }
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok(fds)
}
