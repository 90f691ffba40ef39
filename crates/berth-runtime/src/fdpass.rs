//! Passing a descriptor over a unix socket (`SCM_RIGHTS`): a terminal's master from the process
//! that made it inside a container to the one that relays it, or to an OCI console socket.

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

/// Sends `fd` over `socket`, with `name` as the message's bytes (runc sends the terminal's
/// path; receivers may ignore it).
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(name)],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// Receives one descriptor sent with `send_fd`.
pub fn recv_fd(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 256];
    rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(io::Error::other("no descriptor arrived"))
}
