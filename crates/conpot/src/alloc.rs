//! The process's allocator. Many small, short-lived allocations cross threads (events go
//! from sessions to the sink threads), and mimalloc keeps that from contending on one
//! lock. By default (mimalloc 3) it keeps freed pages for a second before giving them back; under a flood
//! of events that made the resident size track the allocation peaks (40 clients that never
//! read their answers: 85-105 MB before the sink queues were bounded in bytes, 73-75 MB
//! after), so pages are returned after 100 ms (66-67 MB). Returning them after 1 ms kept
//! 63-65 MB but cost a page fault per few requests under load (about 35,000 a second at
//! 100,000 Modbus requests/s, against 4,600 at 100 ms), a tenth of the server's CPU.
//!
//! Arenas are committed as they are used, not eagerly (`MI_DEFAULT_ARENA_EAGER_COMMIT=0`,
//! set for the C build in `.cargo/config.toml`, since mimalloc reads it before `main`):
//! eagerly committed pages stayed resident after they were purged.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the mimalloc 3 header the `libmimalloc-sys` crate builds
/// (`mimalloc.h`, `mi_option_e`): the crate names no constant for it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds a freed page is kept before it is returned to the system.
const PURGE_DELAY_MS: std::os::raw::c_long = 100;

/// Makes the allocator give freed memory back to the system promptly, unless the operator
/// chose a delay with mimalloc's own `MIMALLOC_PURGE_DELAY`. Called first thing in `main`;
/// the option only sets when purges happen, so it may change after allocations.
#[allow(unsafe_code)]
pub fn return_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores the value of a valid option id (checked by the
    // test below against the default `options.c` sets).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    /// `mi_option_arena_eager_commit` in mimalloc 3's `mi_option_e`.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

    #[test]
    fn arenas_are_built_to_commit_lazily() {
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_some() {
            return;
        }
        // mimalloc's own default is 2 (eager where the system overcommits); 0 means the
        // define of `.cargo/config.toml` reached the C build.
        // SAFETY: reading an option has no precondition.
        let eager = unsafe { libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT) };
        assert_eq!(eager, 0);
    }

    #[test]
    fn the_purge_delay_option_id_is_mimallocs() {
        // Before anything sets it the option holds mimalloc 3's default, 1000 ms; a wrong
        // id would name another option with another default.
        // SAFETY: reading an option has no precondition.
        let before = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(before, 1000);
        super::return_memory_promptly();
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(after, super::PURGE_DELAY_MS);
    }
}
