//! A hung test fails the run in minutes, with the stacks that show why.
//!
//! A test that waits forever (a lost wake-up, a task spinning on the
//! test's single-threaded runtime) would otherwise hold `make test` until
//! CI's 90-minute limit kills it, with nothing in the log but libtest's
//! "has been running for over 60 seconds". Each fresh [`TestDb`]
//! (created when a test starts, dropped when it ends) checks in here with
//! its test's thread; a watchdog thread looks every few seconds, and when
//! one has lived longer than the limit (`PORTCULLIS_TEST_HANG_SECS`,
//! default 300 — the longest test takes about 20 s on a 2-core machine) it
//! prints every thread's stack (through `gdb`, when installed: `make
//! test`'s set-up installs it), the hung test's thread last, and aborts
//! the process so the step fails at once.
//!
//! [`TestDb`]: crate::harness::TestDb

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A test that checked in: its name and its thread's Linux thread id.
struct Watched {
    test: String,
    tid: Option<String>,
    since: Instant,
}

fn watched() -> &'static Mutex<HashMap<u64, Watched>> {
    static WATCHED: OnceLock<Mutex<HashMap<u64, Watched>>> = OnceLock::new();
    WATCHED.get_or_init(|| {
        std::thread::Builder::new()
            .name("test-watchdog".into())
            .spawn(watch)
            .unwrap_or_else(|e| panic!("watchdog thread: {e}"));
        Mutex::new(HashMap::new())
    })
}

/// Checks the calling test in until the returned ticket is dropped.
pub fn check_in() -> Ticket {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let thread = std::thread::current();
    let entry = Watched {
        test: thread.name().unwrap_or("unnamed").to_owned(),
        // "/proc/<pid>/task/<tid>": what gdb calls the thread's LWP.
        tid: std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
        since: Instant::now(),
    };
    lock().insert(id, entry);
    Ticket(id)
}

/// Checks its test out when dropped.
#[derive(Debug)]
pub struct Ticket(u64);

impl Drop for Ticket {
    fn drop(&mut self) {
        lock().remove(&self.0);
    }
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<u64, Watched>> {
    watched()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn limit() -> Duration {
    let secs = std::env::var("PORTCULLIS_TEST_HANG_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

fn watch() {
    let limit = limit();
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let hung = lock()
            .values()
            .find(|w| w.since.elapsed() > limit)
            .map(|w| (w.test.clone(), w.tid.clone()));
        if let Some((test, tid)) = hung {
            report(&test, tid.as_deref(), limit);
            std::process::abort();
        }
    }
}

/// Prints every thread's stack, the hung test's last (CI shows a log's
/// end).
fn report(test: &str, tid: Option<&str>, limit: Duration) {
    let headline = format!(
        "WATCHDOG: test `{test}` (thread {}) has run for more than {} s: it is hung; \
         stacks follow, then the process aborts",
        tid.unwrap_or("?"),
        limit.as_secs()
    );
    say(&format!("\n{headline}"));
    let pid = std::process::id().to_string();
    let dump = std::process::Command::new("gdb")
        .args(["-p", &pid, "-batch", "-nx", "-ex", "set pagination off"])
        .args(["-ex", "thread apply all bt 40"])
        .output();
    let text = match dump {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            say(&format!("WATCHDOG: no stacks (gdb: {e})"));
            return;
        }
    };
    // gdb prints one block per thread, its first line "Thread N (Thread
    // 0x… (LWP tid) "name"):" or, by version, "Thread N (LWP tid "name"):".
    let marks = tid.map(|t| [format!("LWP {t})"), format!("LWP {t} ")]);
    let (hung, others): (Vec<&str>, Vec<&str>) = text.split("\nThread ").partition(|b| {
        let first = b.lines().next().unwrap_or_default();
        marks
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| first.contains(m.as_str())))
    });
    for b in others {
        say(&format!("Thread {b}"));
    }
    for b in hung {
        say(&format!(
            "\n{headline}\nThe hung test's thread:\nThread {b}"
        ));
    }
}

/// Writes a line to the process's stderr. Not `eprintln!`: this thread
/// was started by a test, so libtest's output capture would keep the text
/// in that test's buffer, which an aborting process never prints.
fn say(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}
