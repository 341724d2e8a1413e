//! Giving back the pages of the binary that only start-up touched.
//!
//! One binary holds the broker, the ZooKeeper server and every tool, so
//! starting touches code and constants spread over much of it (argument
//! parsing for every subcommand, config, recovery), and the kernel maps
//! them in 64 KiB runs. A long-running server that uses little of that
//! afterwards would count it all in its resident set for good.

/// Unmaps this process's read-only pages of its own executable that have
/// no private copy, i.e. are exactly the file's bytes. Nothing is lost:
/// the next use maps a page again from the page cache (a minor fault), so
/// what stays resident is what the process goes on using. Mappings with
/// private copies (relocated read-only data) are left alone, since
/// dropping those would bring back the unrelocated file contents.
pub fn release_startup_pages() {
    let (Ok(exe), Ok(smaps)) =
        (std::fs::read_link("/proc/self/exe"), std::fs::read_to_string("/proc/self/smaps"))
    else {
        return;
    };
    let exe = exe.to_string_lossy();
    let mut candidate: Option<(usize, usize)> = None;
    let mut released = 0usize;
    for line in smaps.lines() {
        if let Some(range) = mapping_of(line, &exe) {
            candidate = range;
        } else if let Some(anon) = line.strip_prefix("Anonymous:") {
            let clean = anon.trim().strip_suffix("kB").is_some_and(|n| n.trim() == "0");
            if let (Some((start, end)), true) = (candidate.take(), clean) {
                // SAFETY: a private, read-only file mapping without
                // anonymous pages: dropping its pages only makes the next
                // access fault them in again from the same file.
                let advised = unsafe {
                    rustix::mm::madvise(
                        start as *mut std::ffi::c_void,
                        end - start,
                        rustix::mm::Advice::LinuxDontNeed,
                    )
                };
                if advised.is_ok() {
                    released += end - start;
                }
            }
        }
    }
    tracing::debug!("released {} KiB of start-up mappings of {exe}", released / 1024);
}

/// For a mapping header line of smaps: `Some(Some(range))` if it maps
/// `exe` read-only and privately, `Some(None)` for any other mapping,
/// `None` if the line is not a mapping header.
fn mapping_of(line: &str, exe: &str) -> Option<Option<(usize, usize)>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    let path = fields.nth(3).unwrap_or("");
    let wanted = perms.starts_with('r') && !perms.contains('w') && perms.ends_with('p');
    Some((wanted && path == exe && start < end).then_some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mapping_headers() {
        let exe = "/usr/bin/kafka-rs";
        let code = "5584-5590 r-xp 003c8000 fe:00 5824574                    /usr/bin/kafka-rs";
        assert_eq!(mapping_of(code, exe), Some(Some((0x5584, 0x5590))));
        let data = "5590-5592 rw-p 012a4000 fe:00 5824574                    /usr/bin/kafka-rs";
        assert_eq!(mapping_of(data, exe), Some(None));
        let other = "7f00-7f10 r-xp 00026000 fe:00 326279  /usr/lib/x86_64-linux-gnu/libc.so.6";
        assert_eq!(mapping_of(other, exe), Some(None));
        assert_eq!(mapping_of("7f00-7f10 rw-p 00000000 00:00 0", exe), Some(None));
        assert_eq!(mapping_of("Rss:                1396 kB", exe), None);
    }

    #[test]
    fn releasing_keeps_the_process_working() {
        release_startup_pages();
        // Code and constants fault back in.
        assert_eq!(format!("{:?}", vec![1, 2, 3]), "[1, 2, 3]");
    }
}
