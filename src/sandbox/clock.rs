//! The clock variation's shim: a small shared object, built from `src/sandbox/clock_shim.c` by
//! `build.rs` and carried inside the reprobe binary, that `check` preloads into every
//! dynamically linked process of a step to push its wall clock.
//!
//! Why a shim of our own: libfaketime is a package most machines lack (and `check` then
//! silently did not vary the clock), and its general machinery made JVM steps several
//! times slower. This one adds an offset to `CLOCK_REALTIME` and the calls derived from it
//! (`gettimeofday`, `time`, `timespec_get`) and does nothing else: monotonic clocks, sleeps
//! and file times stay real, so make and ninja still compare real mtimes.
//!
//! Both builds of a `check` that varies the clock preload the shim with the same
//! environment (`LD_PRELOAD=/.reprobe/libclock.so`); only the file `/.reprobe/clock`
//! holding the offset differs (0, then [`CLOCK_OFFSET_SECS`]). A statically linked program
//! ignores the shim: the sandbox reports each one a step executes, and `check` says the
//! clock variation did not reach that step.

/// The shim's bytes (an ELF shared object for the machine reprobe was built for).
pub(crate) const SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libreprobe_clock.so"));

/// Directory of the sandbox's root holding the shim and its offset file.
pub(crate) const SANDBOX_DIR: &str = "/.reprobe";

/// Where the shim sits in the sandbox (the value of `LD_PRELOAD`).
pub(crate) const SANDBOX_SHIM: &str = "/.reprobe/libclock.so";

/// Name of the file, in [`SANDBOX_DIR`], that holds the offset in seconds.
pub(crate) const OFFSET_FILE: &str = "clock";

/// How far the second build's clock is pushed ahead: 5 years, 63 days and 7 hours, so the
/// year, month, day and hour all differ. Input files get mtimes that far in the past
/// instead (never newer than what the step writes: make and ninja compare mtimes).
pub const CLOCK_OFFSET_SECS: i64 = 5 * 365 * 86400 + 63 * 86400 + 7 * 3600;

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn shim_on_disk(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("libclock.so");
        std::fs::write(&path, SHIM).unwrap();
        path
    }

    #[test]
    fn the_shim_is_an_elf_shared_object() {
        assert_eq!(&SHIM[..4], b"\x7fELF");
        assert_eq!(SHIM[16], 3, "e_type ET_DYN");
    }

    #[test]
    fn the_shim_pushes_the_wall_clock_by_the_offset_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let shim = shim_on_disk(dir.path());
        let offset = dir.path().join("clock");
        std::fs::write(&offset, CLOCK_OFFSET_SECS.to_string()).unwrap();
        let run = |preload: bool| {
            let mut command = Command::new("/bin/date");
            command.arg("+%s").env("REPROBE_CLOCK_FILE", &offset);
            if preload {
                command.env("LD_PRELOAD", &shim);
            }
            let out = command.output().unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse::<i64>()
                .unwrap()
        };
        let real = run(false);
        let pushed = run(true);
        let shift = pushed - real;
        assert!(
            (CLOCK_OFFSET_SECS..CLOCK_OFFSET_SECS + 60).contains(&shift),
            "pushed {shift} s"
        );
    }

    #[test]
    fn a_missing_offset_file_leaves_the_clock_real() {
        let dir = tempfile::tempdir().unwrap();
        let shim = shim_on_disk(dir.path());
        let out = Command::new("/bin/date")
            .arg("+%Y")
            .env("LD_PRELOAD", &shim)
            .env("REPROBE_CLOCK_FILE", dir.path().join("absent"))
            .output()
            .unwrap();
        let year = chrono::Utc::now().format("%Y").to_string();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), year);
    }
}
