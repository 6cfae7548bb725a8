//! How the binary's two allocators give memory back to the system.
//!
//! The Rust side allocates with mimalloc (the `#[global_allocator]` of
//! the `portcullis` binary); SQLite's C code and the other C libraries
//! with glibc's malloc. Left at their defaults both keep freed memory: at
//! 100,000 people that was about 60 MB of the console's anonymous memory
//! (docs/benchmarks.md, scale run 8). [`tune`] sets, before the first
//! thread starts:
//! - mimalloc's `purge_delay` to 0. A free that empties pages (a whole
//!   policy body is 27 MB at 100,000 people) gives them back at once;
//!   with the default (1 s in mimalloc 3) they go back only when the
//!   allocator next runs its purge, at least a second later, which for a
//!   thread that then goes idle may be much later.
//! - glibc's arena count to 2 (`M_ARENA_MAX`). SQLite's connection
//!   threads then share two arenas instead of up to eight per core, each
//!   of which keeps its own freed memory.
//!
//! An operator's own setting wins: `MIMALLOC_PURGE_DELAY` in the
//! environment leaves mimalloc's option alone, and `MALLOC_ARENA_MAX` (or
//! a `GLIBC_TUNABLES` naming `glibc.malloc.arena_max`) glibc's.
//!
//! The workspace's one crate that may use `unsafe` (its `Cargo.toml` says
//! why); each block names what makes it sound.

#![allow(unsafe_code)]

/// mimalloc's `purge_delay` in milliseconds: 0 gives pages back at once.
pub const PURGE_DELAY_MS: i64 = 0;

/// mimalloc's id of the `purge_delay` option: `mi_option_purge_delay` in
/// the `mi_option_t` enum of `mimalloc.h` (the 16th; the same in versions
/// 2 and 3). `libmimalloc-sys` 0.1.49 binds `mi_option_set` but not this
/// constant; `tune_sets_mimallocs_purge_delay` checks the id against the
/// option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc 3's default `purge_delay` (`options.c`).
#[cfg(test)]
const MIMALLOC_DEFAULT_PURGE_DELAY_MS: i64 = 1000;

/// glibc's arena count.
pub const ARENA_MAX: i32 = 2;

/// What [`tune`] sets, given the environment: `None` where the operator
/// set the allocator's own variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub purge_delay_ms: Option<i64>,
    pub arena_max: Option<i32>,
}

impl Plan {
    /// The plan for an environment read through `var`.
    pub fn of(var: impl Fn(&str) -> Option<String>) -> Self {
        let tunables = var("GLIBC_TUNABLES").unwrap_or_default();
        Plan {
            purge_delay_ms: var("MIMALLOC_PURGE_DELAY")
                .is_none()
                .then_some(PURGE_DELAY_MS),
            arena_max: (var("MALLOC_ARENA_MAX").is_none()
                && !tunables.contains("glibc.malloc.arena_max"))
            .then_some(ARENA_MAX),
        }
    }
}

/// Applies [`Plan::of`] the process's environment. Call it first thing in
/// `main`, before any thread is started.
pub fn tune() -> Plan {
    let plan = Plan::of(|k| std::env::var(k).ok());
    if let Some(ms) = plan.purge_delay_ms {
        // SAFETY: `mi_option_set` stores an integer in mimalloc's option
        // table; it takes any option id and value and has no other
        // precondition. (No safe wrapper exists: the `mimalloc` crate
        // exposes only the allocator, `libmimalloc-sys` the C API.)
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms);
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Some(n) = plan.arena_max {
        // SAFETY: `mallopt` changes a malloc parameter; glibc takes it at
        // any time (arenas already made stay), and no thread is running
        // yet. Its failure (0) leaves the default, which is only memory.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, n);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn both_allocators_are_tuned_when_the_operator_set_neither() {
        assert_eq!(
            Plan::of(env(&[("PATH", "/usr/bin")])),
            Plan {
                purge_delay_ms: Some(0),
                arena_max: Some(2)
            }
        );
    }

    #[test]
    fn the_operators_own_setting_wins() {
        assert_eq!(
            Plan::of(env(&[("MIMALLOC_PURGE_DELAY", "1000")])),
            Plan {
                purge_delay_ms: None,
                arena_max: Some(2)
            }
        );
        assert_eq!(
            Plan::of(env(&[("MALLOC_ARENA_MAX", "8")])),
            Plan {
                purge_delay_ms: Some(0),
                arena_max: None
            }
        );
        assert_eq!(
            Plan::of(env(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")])).arena_max,
            None
        );
        assert_eq!(
            Plan::of(env(&[("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")])).arena_max,
            Some(2)
        );
    }

    /// mimalloc's `purge_delay`, now.
    fn purge_delay() -> i64 {
        // SAFETY: reads an integer from mimalloc's option table.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn tune_sets_mimallocs_purge_delay() {
        // The only test that calls `tune`.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            assert_eq!(tune().purge_delay_ms, None);
            return;
        }
        assert_eq!(
            purge_delay(),
            MIMALLOC_DEFAULT_PURGE_DELAY_MS,
            "the option's id"
        );
        assert_eq!(tune().purge_delay_ms, Some(PURGE_DELAY_MS));
        assert_eq!(purge_delay(), PURGE_DELAY_MS);
    }
}
