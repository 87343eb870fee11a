//! Peak resident memory of this process.

/// Returns the process's peak resident set size (RSS high-water mark) in bytes: `VmHWM` from
/// `/proc/self/status` on Linux, else `ru_maxrss` from `getrusage`. `None` if neither
/// is available.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:")
        .map(|kib| kib * 1024)
        .or_else(rusage_max_rss_bytes)
}

/// Returns the current resident set size in bytes (Linux only).
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Resets the peak RSS to the current RSS, so that [`peak_rss_bytes`] measures from now
/// on (Linux: writes `5` to `/proc/self/clear_refs`). Returns whether it succeeded.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Makes glibc's `malloc` keep freed memory for reuse instead of returning it to the
/// kernel: large blocks come from the heap rather than from `mmap`, and the heap is
/// never trimmed. A training step allocates and frees gigabytes of tensors. By default
/// each large block is a fresh mapping whose pages the kernel must fault in and zero,
/// and that costs more time than many of the kernels. The price is that the process keeps
/// its peak heap resident. Process-wide and opt-in; returns whether it applied (glibc
/// on Linux only).
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Returns freed heap memory to the system (glibc's `malloc_trim`), so that the
/// resident size afterwards is what the process still uses. Returns whether it
/// applied (glibc on Linux only).
pub fn release_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases free memory of malloc's own arenas.
        unsafe {
            libc::malloc_trim(0);
        }
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Memory the kernel reports as available for new allocations, in bytes (Linux only).
pub fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_kib_field(&meminfo, "MemAvailable:").map(|kib| kib * 1024)
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kib_field(&status, field)
}

fn parse_kib_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn rusage_max_rss_bytes() -> Option<u64> {
    // SAFETY: getrusage only writes into the zero-initialised struct passed to it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    // ru_maxrss is in KiB on Linux and in bytes on macOS.
    let scale = if cfg!(target_os = "macos") { 1 } else { 1024 };
    u64::try_from(usage.ru_maxrss).ok().map(|v| v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_grows_with_a_large_allocation() {
        let before = peak_rss_bytes().expect("peak RSS is available on this platform");
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before);
        assert!(
            after >= 64 << 20,
            "peak {after} below the 64 MiB just touched"
        );
    }

    #[test]
    fn parses_kib_fields() {
        assert_eq!(
            parse_kib_field("VmHWM:\t  1234 kB\nVmRSS: 5 kB", "VmHWM:"),
            Some(1234)
        );
        assert_eq!(
            parse_kib_field("MemAvailable:   99 kB", "MemAvailable:"),
            Some(99)
        );
        assert_eq!(parse_kib_field("Other: 1 kB", "VmHWM:"), None);
    }
}
