//! Shared by every fuzz target: a global allocator that aborts the process
//! on any single allocation beyond a limit. libFuzzer's own `-malloc_limit_mb`
//! needs a sanitizer's malloc hooks, which a build without a sanitizer lacks;
//! this catches a length or count read from the input that sizes a buffer,
//! the bug the decoders must never have, and libFuzzer saves the input that
//! did it as a crash.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Far above anything a decoder needs for an input of `-max_len` bytes
/// (scripts/fuzz.sh caps inputs at 1 MiB), far below what a hostile length
/// field can ask for.
pub const DEFAULT_ALLOCATION_LIMIT: usize = 64 << 20;

static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_ALLOCATION_LIMIT);

/// Raises or lowers the limit, for a target whose decoder has a larger
/// bound of its own (decompression may produce up to its configured cap).
pub fn set_allocation_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

struct Bounded;

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

fn check(size: usize) {
    if size > LIMIT.load(Ordering::Relaxed) {
        // Formatting would allocate: write the digits by hand.
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = size;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut err = std::io::stderr();
        let _ = err.write_all(b"allocation of ");
        let _ = err.write_all(&digits[i..]);
        let _ = err.write_all(b" bytes is over the fuzz limit\n");
        std::process::abort();
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// size check only decides whether to abort first.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}
