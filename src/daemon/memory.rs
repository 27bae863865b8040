//! An idle lane's memory is mostly code: start-up (config, clap, the database schema, the
//! first cycle) leaves several MiB of the binary and its libraries mapped that the idle
//! loop never runs again. Dropping those page mappings before the lane sleeps brings its
//! resident set down to what the loop really uses (docs/benchmarks.md).

/// Unmaps the clean, read-only file pages of this process (code and constants of the binary
/// and its libraries). Nothing is lost: the pages stay in the page cache and the next access
/// maps them again. Mappings holding private copies (relocated data, anything ever written)
/// are left alone, since dropping those would lose the changes.
pub fn release_file_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, len) in clean_read_only_file_mappings(&smaps) {
        let Some(addr) = std::ptr::NonNull::new(start as *mut std::ffi::c_void) else {
            continue;
        };
        // SAFETY: the range is a whole private, read-only, file-backed mapping of this
        // process without any anonymous (written) page, so MADV_DONTNEED only drops page
        // table entries that the next access restores from the same file.
        let _ = unsafe {
            nix::sys::mman::madvise(addr, len, nix::sys::mman::MmapAdvise::MADV_DONTNEED)
        };
    }
}

/// (start, length) of each mapping in `/proc/self/smaps` text that is read-only, private,
/// backed by a file and holds no anonymous page.
fn clean_read_only_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-') {
            // A mapping header: "start-end perms offset dev inode [path]".
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            current = match (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) {
                (Ok(s), Ok(e))
                    if perms.starts_with('r')
                        && &perms[1..2] == "-"
                        && perms.ends_with('p')
                        && path.starts_with('/') =>
                {
                    Some((s, e - s))
                }
                _ => None,
            };
        } else if first == "Anonymous:" {
            let anonymous = fields.next().and_then(|k| k.parse::<u64>().ok());
            if let (Some(mapping), Some(0)) = (current.take(), anonymous) {
                found.push(mapping);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings() {
        let smaps = "\
5000-6000 r--p 00000000 fe:00 12 /usr/bin/oc-goal
Rss:                   4 kB
Anonymous:             0 kB
6000-9000 r-xp 00001000 fe:00 12 /usr/bin/oc-goal
Anonymous:             0 kB
9000-a000 r--p 00004000 fe:00 12 /usr/bin/oc-goal
Anonymous:             4 kB
a000-b000 rw-p 00005000 fe:00 12 /usr/bin/oc-goal
Anonymous:             0 kB
b000-c000 r--s 00000000 fe:00 13 /var/lib/x.db-shm
Anonymous:             0 kB
c000-d000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
d000-e000 rw-p 00000000 00:00 0
Anonymous:             4 kB
";
        assert_eq!(
            clean_read_only_file_mappings(smaps),
            vec![(0x5000, 0x1000), (0x6000, 0x3000)]
        );
    }

    #[test]
    fn releasing_keeps_the_process_working() {
        release_file_pages();
        // The code and constants just released are mapped again on use.
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert!(smaps.contains(&*exe.to_string_lossy()));
        assert!(!clean_read_only_file_mappings(&smaps).is_empty());
    }
}
