//! The seccomp filter that makes a step's network and file system calls visible to the
//! supervisor (module `supervisor`): which calls it sends there, as a BPF program. The
//! step installs it (module `isolate::exec_step`).
//!
//! The step process installs the filter right before `execve`, after `PR_SET_NO_NEW_PRIVS`,
//! with `SECCOMP_FILTER_FLAG_NEW_LISTENER`. Every filtered call then blocks in the kernel
//! until the supervisor answers its notification (`seccomp_unotify(2)`): "continue" or an
//! errno. Of the calls of a foreign architecture (32-bit programs, or `int $0x80`, on
//! x86-64), only the network ones are notified (`connect`, `sendto`, `sendmsg`,
//! `sendmmsg`; not `socketcall`); file opens are not observed there. `io_uring_setup` is refused while network calls are observed, since a ring
//! connects without a filtered call.

use libc::sock_filter;

use crate::sandbox::observation::Observation;

/// The system calls the filter sends to the supervisor, by what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterSet {
    /// `connect`, `sendto`, `sendmsg`, `sendmmsg`.
    pub network: bool,
    /// `open`, `openat` (when they may read) and `openat2`.
    pub files: bool,
    /// `execve` and `execveat` (to find statically linked programs: module `execs`).
    pub execs: bool,
}

impl FilterSet {
    /// The calls the step's filter sends to the supervisor (none for a fetch step).
    pub(crate) fn for_step(observation: &Observation, network_step: bool) -> Option<Self> {
        let set = FilterSet {
            network: observation.network && !network_step,
            files: observation.files && !network_step,
            execs: observation.static_programs && !network_step,
        };
        (set.network || set.files || set.execs).then_some(set)
    }
}

/// The audit architecture of the system calls the filter understands.
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xC000_003E;
/// The audit architecture of the system calls the filter understands.
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xC000_00B7;

/// The audit architecture of the 32-bit system calls an x86-64 process can still make
/// (`int $0x80`, or a 32-bit program).
#[cfg(target_arch = "x86_64")]
pub(crate) const I386_ARCH: u32 = 0x4000_0003;

/// The 32-bit network calls observed, with the native call each stands for: their
/// arguments sit where the native ones do (`sendmsg`'s header is laid out for 32 bits).
/// `socketcall`, which 32-bit C libraries stopped using with Linux 4.3, is not.
#[cfg(target_arch = "x86_64")]
pub(crate) const I386_NETWORK_CALLS: [(u32, libc::c_long); 4] = [
    (362, libc::SYS_connect),
    (369, libc::SYS_sendto),
    (370, libc::SYS_sendmsg),
    (345, libc::SYS_sendmmsg),
];

/// x32 system calls carry this bit in their number on x86-64.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets into `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// Offset of the low 32 bits of argument `i` (little endian).
const fn data_arg(i: u32) -> u32 {
    16 + 8 * i
}

/// Open flags that cannot read a file: such opens are not observed.
const NOT_A_READ: u32 =
    (libc::O_WRONLY | libc::O_CREAT | libc::O_PATH | libc::O_DIRECTORY | libc::O_TMPFILE) as u32;

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
/// `io_uring_setup` fails with `ENOSYS` (see [`filter_program`]).
const RET_NO_IO_URING: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The network system calls observed.
pub(crate) const NETWORK_CALLS: [libc::c_long; 4] = [
    libc::SYS_connect,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
];

/// An open-like call and the argument holding its flags (`None`: flags behind a pointer).
struct OpenCall {
    nr: libc::c_long,
    flags_arg: Option<u32>,
}

/// The file calls observed (the `stat` family is not: see the module docs of `supervisor`).
fn open_calls() -> Vec<OpenCall> {
    let mut calls = vec![
        OpenCall {
            nr: libc::SYS_openat,
            flags_arg: Some(2),
        },
        OpenCall {
            nr: libc::SYS_openat2,
            flags_arg: None,
        },
    ];
    #[cfg(target_arch = "x86_64")]
    calls.push(OpenCall {
        nr: libc::SYS_open,
        flags_arg: Some(1),
    });
    calls
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

const LD_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JSET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
const JGE: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
const RET: u32 = libc::BPF_RET | libc::BPF_K;

/// Assembles the filter program for `set`.
///
/// Shape: foreign architecture or x32 → allow; each observed network call → notify; each
/// open call → allow when its flags cannot read, else notify; anything else → allow.
pub(crate) fn filter_program(set: FilterSet) -> Vec<sock_filter> {
    let mut prog = vec![stmt(LD_ABS, DATA_ARCH)];
    #[cfg(target_arch = "x86_64")]
    if set.network {
        // 32-bit network calls → notify; any other 32-bit call → allow. Skipped (with
        // the architecture still loaded) for other architectures.
        let mut block = vec![stmt(LD_ABS, DATA_NR)];
        for (nr, _) in I386_NETWORK_CALLS {
            block.push(jump(JEQ, nr, 0, 1));
            block.push(stmt(RET, RET_NOTIFY));
        }
        block.push(stmt(RET, RET_ALLOW));
        let skip = u8::try_from(block.len()).expect("a short block");
        prog.push(jump(JEQ, I386_ARCH, 0, skip));
        prog.extend(block);
    }
    prog.extend([
        jump(JEQ, NATIVE_ARCH, 1, 0),
        stmt(RET, RET_ALLOW),
        stmt(LD_ABS, DATA_NR),
        jump(JGE, X32_SYSCALL_BIT, 0, 1),
        stmt(RET, RET_ALLOW),
    ]);
    if set.network {
        for nr in NETWORK_CALLS {
            prog.push(jump(JEQ, nr as u32, 0, 1));
            prog.push(stmt(RET, RET_NOTIFY));
        }
        // io_uring submits connects and sends without a system call of their own, out
        // of the filter's sight: a step gets ENOSYS, as on a kernel without io_uring
        // (programs fall back to plain calls; container runtimes refuse it likewise).
        prog.push(jump(JEQ, libc::SYS_io_uring_setup as u32, 0, 1));
        prog.push(stmt(RET, RET_NO_IO_URING));
    }
    if set.execs {
        for nr in [libc::SYS_execve, libc::SYS_execveat] {
            prog.push(jump(JEQ, nr as u32, 0, 1));
            prog.push(stmt(RET, RET_NOTIFY));
        }
    }
    if set.files {
        for call in open_calls() {
            match call.flags_arg {
                None => {
                    prog.push(jump(JEQ, call.nr as u32, 0, 1));
                    prog.push(stmt(RET, RET_NOTIFY));
                }
                Some(arg) => {
                    // nr matches: load flags, allow non-reads, notify the rest. The
                    // accumulator is clobbered, so reload nr when it does not match.
                    prog.push(jump(JEQ, call.nr as u32, 0, 4));
                    prog.push(stmt(LD_ABS, data_arg(arg)));
                    prog.push(jump(JSET, NOT_A_READ, 0, 1));
                    prog.push(stmt(RET, RET_ALLOW));
                    prog.push(stmt(RET, RET_NOTIFY));
                }
            }
        }
    }
    prog.push(stmt(RET, RET_ALLOW));
    prog
}

/// Runs a classic BPF program over a `seccomp_data`, for tests of the filter.
#[cfg(test)]
pub(crate) fn run_filter(prog: &[sock_filter], data: &libc::seccomp_data) -> u32 {
    let bytes: Vec<u8> = {
        let mut b = Vec::new();
        b.extend_from_slice(&data.nr.to_le_bytes());
        b.extend_from_slice(&data.arch.to_le_bytes());
        b.extend_from_slice(&data.instruction_pointer.to_le_bytes());
        for arg in data.args {
            b.extend_from_slice(&arg.to_le_bytes());
        }
        b
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let ins = prog[pc];
        let code = u32::from(ins.code);
        pc += 1;
        match code {
            LD_ABS => {
                let at = ins.k as usize;
                acc = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
            }
            RET => return ins.k,
            JEQ | JSET | JGE => {
                let taken = match code {
                    JEQ => acc == ins.k,
                    JSET => acc & ins.k != 0,
                    _ => acc >= ins.k,
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            other => panic!("unexpected instruction {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: FilterSet = FilterSet {
        network: true,
        files: true,
        execs: true,
    };

    fn call(nr: libc::c_long, args: [u64; 6]) -> libc::seccomp_data {
        libc::seccomp_data {
            nr: nr as i32,
            arch: NATIVE_ARCH,
            instruction_pointer: 0,
            args,
        }
    }

    fn verdict(set: FilterSet, data: libc::seccomp_data) -> u32 {
        run_filter(&filter_program(set), &data)
    }

    #[test]
    fn network_calls_are_notified() {
        for nr in NETWORK_CALLS {
            assert_eq!(verdict(ALL, call(nr, [0; 6])), RET_NOTIFY, "nr {nr}");
        }
    }

    #[test]
    fn io_uring_is_refused_when_the_network_is_observed() {
        let setup = call(libc::SYS_io_uring_setup, [8, 0, 0, 0, 0, 0]);
        assert_eq!(verdict(ALL, setup), RET_NO_IO_URING);
        let files_only = FilterSet {
            network: false,
            files: true,
            execs: false,
        };
        assert_eq!(verdict(files_only, setup), RET_ALLOW);
    }

    #[test]
    fn reading_opens_are_notified_and_writing_ones_allowed() {
        let rdonly = call(libc::SYS_openat, [0, 0, libc::O_RDONLY as u64, 0, 0, 0]);
        assert_eq!(verdict(ALL, rdonly), RET_NOTIFY);
        let rdwr = call(libc::SYS_openat, [0, 0, libc::O_RDWR as u64, 0, 0, 0]);
        assert_eq!(verdict(ALL, rdwr), RET_NOTIFY);
        let create = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64;
        assert_eq!(
            verdict(ALL, call(libc::SYS_openat, [0, 0, create, 0, 0, 0])),
            RET_ALLOW
        );
        let dir = (libc::O_RDONLY | libc::O_DIRECTORY) as u64;
        assert_eq!(
            verdict(ALL, call(libc::SYS_openat, [0, 0, dir, 0, 0, 0])),
            RET_ALLOW
        );
        assert_eq!(verdict(ALL, call(libc::SYS_openat2, [0; 6])), RET_NOTIFY);
    }

    #[test]
    fn other_calls_foreign_arches_and_x32_are_allowed() {
        assert_eq!(verdict(ALL, call(libc::SYS_read, [0; 6])), RET_ALLOW);
        let mut foreign = call(libc::SYS_connect, [0; 6]);
        foreign.arch = 0x4000_0003;
        assert_eq!(verdict(ALL, foreign), RET_ALLOW);
        let x32 = call(libc::SYS_connect | X32_SYSCALL_BIT as libc::c_long, [0; 6]);
        assert_eq!(verdict(ALL, x32), RET_ALLOW);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn network_calls_of_32_bit_code_are_notified_and_nothing_else_of_it() {
        let i386 = |nr: u32| libc::seccomp_data {
            nr: nr as i32,
            arch: I386_ARCH,
            instruction_pointer: 0,
            args: [0; 6],
        };
        for (nr, _) in I386_NETWORK_CALLS {
            assert_eq!(verdict(ALL, i386(nr)), RET_NOTIFY, "i386 nr {nr}");
        }
        assert_eq!(verdict(ALL, i386(5)), RET_ALLOW, "an i386 open");
        let files_only = FilterSet {
            network: false,
            files: true,
            execs: false,
        };
        assert_eq!(verdict(files_only, i386(362)), RET_ALLOW);
        // The native calls are still told apart after the 32-bit block.
        assert_eq!(verdict(ALL, call(libc::SYS_connect, [0; 6])), RET_NOTIFY);
        assert_eq!(verdict(ALL, call(libc::SYS_read, [0; 6])), RET_ALLOW);
    }

    #[test]
    fn a_set_without_files_leaves_opens_alone() {
        let set = FilterSet {
            network: true,
            files: false,
            execs: false,
        };
        assert_eq!(verdict(set, call(libc::SYS_openat, [0; 6])), RET_ALLOW);
        assert_eq!(verdict(set, call(libc::SYS_connect, [0; 6])), RET_NOTIFY);
        assert_eq!(verdict(set, call(libc::SYS_execve, [0; 6])), RET_ALLOW);
    }

    #[test]
    fn execs_are_notified_only_when_asked_for() {
        for nr in [libc::SYS_execve, libc::SYS_execveat] {
            assert_eq!(verdict(ALL, call(nr, [0; 6])), RET_NOTIFY);
        }
    }
}
