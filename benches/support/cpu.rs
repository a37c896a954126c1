//! The calling thread's CPU time, shared by the benchmarks: a busy machine does not inflate it as
//! it does the wall clock.

use std::time::{Duration, Instant};

/// The calling thread's CPU time, where the platform has it; else the wall clock.
pub fn cpu_now() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and the clock id a constant libc defines.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            );
        }
    }
    START.with(|start| start.elapsed())
}

thread_local! {
    static START: Instant = Instant::now();
}
