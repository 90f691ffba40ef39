//! Device access rules, and their enforcement on cgroup v2, which has no devices controller:
//! an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's cgroup,
//! as runc and crun do. (On v1 the `devices` controller takes the same rules as text.)

use rustix::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One allow rule: `c 1:3 rwm`, `b *:* m`, `a *:* rwm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// `Some(b'c')`, `Some(b'b')`, or `None` for both.
    pub kind: Option<u8>,
    /// Major number, `None` for any.
    pub major: Option<u32>,
    /// Minor number, `None` for any.
    pub minor: Option<u32>,
    /// Bits of `ACCESS_*` allowed.
    pub access: u32,
}

const ACCESS_MKNOD: u32 = 1;
const ACCESS_READ: u32 = 2;
const ACCESS_WRITE: u32 = 4;
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;

impl DeviceRule {
    /// Parses the v1 text form `TYPE MAJOR:MINOR ACCESS`.
    pub fn parse(text: &str) -> Option<DeviceRule> {
        let mut fields = text.split_whitespace();
        let kind = match fields.next()? {
            "a" => None,
            "c" => Some(b'c'),
            "b" => Some(b'b'),
            _ => return None,
        };
        let (major, minor) = match fields.next() {
            Some(numbers) => numbers.split_once(':')?,
            None => ("*", "*"),
        };
        let number = |n: &str| {
            if n == "*" {
                Some(None)
            } else {
                n.parse().ok().map(Some)
            }
        };
        let mut access = 0;
        for c in fields.next().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => ACCESS_READ,
                'w' => ACCESS_WRITE,
                'm' => ACCESS_MKNOD,
                _ => return None,
            };
        }
        Some(DeviceRule {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access,
        })
    }
}

/// An eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JNE_X: u8 = 0x5d;
const EXIT: u8 = 0x95;

/// The program: load type, access, major and minor from `struct bpf_cgroup_dev_ctx`, then one
/// block per rule that returns 1 (allow) when everything matches; 0 (deny) at the end.
fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = device type
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16), // r3 = access asked for
        insn(LDX_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_W, 5, 1, 8, 0),    // r5 = minor
    ];
    for rule in rules {
        // Jumps are filled in with the offset to the block's end once its length is known.
        let mut block: Vec<(Insn, bool)> = Vec::new();
        if let Some(kind) = rule.kind {
            block.push((
                insn(
                    JNE_K,
                    2,
                    0,
                    0,
                    if kind == b'b' { DEV_BLOCK } else { DEV_CHAR } as i32,
                ),
                true,
            ));
        }
        if rule.access != ACCESS_MKNOD | ACCESS_READ | ACCESS_WRITE {
            // Allowed when the access asked for is within the rule's: (r3 & access) == r3.
            block.push((insn(MOV64_X, 1, 3, 0, 0), false));
            block.push((insn(AND32_K, 1, 0, 0, rule.access as i32), false));
            block.push((insn(JNE_X, 1, 3, 0, 0), true));
        }
        if let Some(major) = rule.major {
            block.push((insn(JNE_K, 4, 0, 0, major as i32), true));
        }
        if let Some(minor) = rule.minor {
            block.push((insn(JNE_K, 5, 0, 0, minor as i32), true));
        }
        block.push((insn(MOV64_K, 0, 0, 0, 1), false));
        block.push((insn(EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        let matches_everything = !block.iter().any(|(_, is_jump)| *is_jump);
        for (i, (mut instruction, is_jump)) in block.into_iter().enumerate() {
            if is_jump {
                instruction.off = (len - i - 1) as i16;
            }
            out.push(instruction);
        }
        if matches_everything {
            // Nothing after an unconditional allow can run, and the verifier refuses dead code.
            return out;
        }
    }
    out.push(insn(MOV64_K, 0, 0, 0, 0));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

/// `union bpf_attr` for BPF_PROG_LOAD (the fields berth sets; the rest stays zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    padding: [u64; 12],
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    padding: [u32; 27],
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// BPF_PROG_LOAD of `instructions`, with the verifier's log in `log` when given (a log too
/// small for what the verifier says makes the load fail, so none is asked for normally).
fn load(instructions: &[Insn], log: Option<&mut Vec<u8>>) -> std::io::Result<i64> {
    let license = c"Apache-2.0";
    let (log_level, log_size, log_buf) = match log {
        Some(log) => (1, log.len() as u32, log.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: instructions.len() as u32,
        insns: instructions.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        ..ProgLoad::default()
    };
    // SAFETY: `attr` is a valid bpf_attr for BPF_PROG_LOAD whose pointers (instructions,
    // license, log buffer) stay alive for the call; its size is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

/// Loads the program for `rules` and attaches it to the cgroup2 directory `cgroup`.
pub fn attach_filter(cgroup: &Path, rules: &[DeviceRule]) -> std::io::Result<()> {
    let instructions = program(rules);
    let fd = match load(&instructions, None) {
        Ok(fd) => fd,
        Err(error) => {
            // Load again with the verifier's log, only to say why.
            let mut log = vec![0u8; 1 << 20];
            let _ = load(&instructions, Some(&mut log));
            let text = String::from_utf8_lossy(&log);
            let tail: Vec<&str> = text.trim_end_matches('\0').lines().rev().take(3).collect();
            return Err(std::io::Error::new(
                error.kind(),
                format!("load the device filter: {error}: {}", tail.join(" / ")),
            ));
        }
    };
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    let program = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let dir = rustix::fs::open(
        cgroup,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let attach = ProgAttach {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttach::default()
    };
    // SAFETY: `attach` is a valid bpf_attr for BPF_PROG_ATTACH naming two open descriptors.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    if r < 0 {
        let error = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            error.kind(),
            format!("attach the device filter to {}: {error}", cgroup.display()),
        ));
    }
    // The attachment keeps the program alive; our descriptors can go.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_like_the_v1_files() {
        assert_eq!(
            DeviceRule::parse("c 1:3 rwm"),
            Some(DeviceRule {
                kind: Some(b'c'),
                major: Some(1),
                minor: Some(3),
                access: 7
            })
        );
        assert_eq!(
            DeviceRule::parse("b *:* m"),
            Some(DeviceRule {
                kind: Some(b'b'),
                major: None,
                minor: None,
                access: 1
            })
        );
        assert_eq!(
            DeviceRule::parse("a"),
            Some(DeviceRule {
                kind: None,
                major: None,
                minor: None,
                access: 7
            })
        );
        assert_eq!(DeviceRule::parse("x 1:1 r"), None);
        assert_eq!(DeviceRule::parse("c 1:1 q"), None);
    }

    #[test]
    fn each_rule_is_a_block_that_jumps_to_its_end() {
        let rule = DeviceRule::parse("c 136:* rw").unwrap();
        let code = program(&[rule]);
        // 6 loads, then: type check, mov/and/jne access, major check, mov r0 1, exit; deny.
        assert_eq!(code.len(), 6 + 7 + 2);
        assert_eq!(code[6].off, 6, "type mismatch skips the block");
        assert_eq!(code[9].off, 3, "access mismatch skips the block");
        assert_eq!(code[10].off, 2, "major mismatch skips the block");
        let all = program(&[DeviceRule::parse("a *:* rwm").unwrap(), rule]);
        assert_eq!(all.len(), 6 + 2, "nothing follows an allow-all rule");
    }
}
