//! What a process about to wait for a long time gives back. A detached container's relay waits
//! as long as its container runs; the pages of code and constants it touched on its way there
//! (berth's, and in a dynamic build its libraries') stay in the page cache, shared by every
//! process that runs them, and need not stay mapped in each relay: the kernel maps back
//! whichever one the relay touches when it wakes.

use rustix::event::{PollFd, Timespec};
use std::ffi::c_void;

/// How long a wait goes without anything happening before the code pages go back.
const QUIET: Timespec = Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// `poll` for a process that may wait long: after a quiet second it gives back its code pages
/// (`release_code_pages`) and waits on without a timeout. A busy process never gets there;
/// an idle one pays one `madvise` per quiet spell.
pub fn poll_resting(fds: &mut [PollFd<'_>]) -> rustix::io::Result<usize> {
    match rustix::event::poll(fds, Some(&QUIET)) {
        Ok(0) => {
            release_code_pages();
            rustix::event::poll(fds, None)
        }
        other => other,
    }
}

/// Drops this process's mappings of the read-only segments (code, constants) of its
/// executable and libraries. Nothing is lost: those pages are never written, and the next
/// touch maps them again from the page cache.
fn release_code_pages() {
    // SAFETY: dl_iterate_phdr calls `release_object` once per loaded object with a valid
    // `dl_phdr_info`, and nothing else; the data pointer is unused.
    unsafe { libc::dl_iterate_phdr(Some(release_object), std::ptr::null_mut()) };
}

/// One loaded object's read-only `PT_LOAD` segments, whole pages only (an edge page may be
/// shared with a writable neighbour). The vDSO is left alone.
unsafe extern "C" fn release_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut c_void,
) -> libc::c_int {
    // SAFETY: dl_iterate_phdr hands a valid `dl_phdr_info` for the duration of the call.
    let info = unsafe { &*info };
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave this process.
    let (vdso, page) = unsafe {
        (
            libc::getauxval(libc::AT_SYSINFO_EHDR),
            libc::getauxval(libc::AT_PAGESZ),
        )
    };
    if info.dlpi_phdr.is_null() || page == 0 || (vdso != 0 && info.dlpi_addr == vdso) {
        return 0;
    }
    // SAFETY: `dlpi_phdr` points at the object's `dlpi_phnum` program headers, mapped for as
    // long as the object is loaded.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    for header in headers
        .iter()
        .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0)
    {
        let start = (info.dlpi_addr + header.p_vaddr).next_multiple_of(page);
        let end = (info.dlpi_addr + header.p_vaddr + header.p_memsz) / page * page;
        if end <= start {
            continue;
        }
        // SAFETY: [start, end) holds whole pages of a read-only segment, mapped privately
        // from its file and never written: dropping them loses no data, and no Rust
        // reference can tell (the next access faults them back in).
        unsafe {
            libc::madvise(
                start as *mut c_void,
                (end - start) as usize,
                libc::MADV_DONTNEED,
            )
        };
    }
    0
}
