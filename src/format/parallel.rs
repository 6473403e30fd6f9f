//! Running per-value jobs (AES-GCM and base64) on several cores, in order-preserving chunks.
//!
//! The tree walks stay sequential: they decide each value and feed the MAC in order. What they
//! hand over here is independent work on disjoint values, so it can be split into contiguous
//! chunks, one thread each, with the first failure in walk order reported.

/// Below this many jobs everything runs on the calling thread: spawning threads costs more
/// than it saves for small files.
pub const MIN_PARALLEL_JOBS: usize = 256;

/// At most this many threads (the calling one included) share the jobs.
const MAX_THREADS: usize = 4;

/// Runs `work` on every job, in contiguous chunks on up to [`MAX_THREADS`] threads when there
/// are more than [`MIN_PARALLEL_JOBS`]. Each chunk stops at its first failure; the failure
/// with the lowest index is returned, as a sequential run would have returned it.
pub fn run<J, E, F>(jobs: &mut [J], work: F) -> Result<(), (usize, E)>
where
    J: Send,
    E: Send,
    F: Fn(&mut J) -> Result<(), E> + Sync,
{
    let threads = if jobs.len() > MIN_PARALLEL_JOBS {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
    } else {
        1
    };
    let run_chunk = |offset: usize, chunk: &mut [J]| -> Result<(), (usize, E)> {
        for (i, job) in chunk.iter_mut().enumerate() {
            work(job).map_err(|e| (offset + i, e))?;
        }
        Ok(())
    };
    if threads <= 1 {
        return run_chunk(0, jobs);
    }
    let size = jobs.len().div_ceil(threads);
    let mut results = std::thread::scope(|s| {
        let mut chunks = jobs.chunks_mut(size).enumerate();
        // The first chunk runs here; the others on their own threads.
        let first = chunks.next();
        let handles: Vec<_> = chunks
            .map(|(n, chunk)| {
                let run_chunk = &run_chunk;
                s.spawn(move || run_chunk(n * size, chunk))
            })
            .collect();
        let mut results = vec![first.map_or(Ok(()), |(_, chunk)| run_chunk(0, chunk))];
        results.extend(handles.into_iter().map(|h| match h.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }));
        results
    });
    // Chunks are in order, so the first failing chunk holds the first failure.
    match results.iter().position(Result::is_err) {
        Some(i) => results.swap_remove(i),
        None => Ok(()),
    }
}

/// The associated data of collected jobs, one buffer for all: a job keeps a range into it.
/// Consecutive values of the same map share one copy.
#[derive(Default)]
pub struct AadArena {
    bytes: Vec<u8>,
    last: (usize, usize),
}

impl AadArena {
    /// The range of `aad` in the arena, stored unless it equals the last one stored.
    pub fn add(&mut self, aad: &[u8]) -> (usize, usize) {
        let (start, end) = self.last;
        if end > start && &self.bytes[start..end] == aad {
            return self.last;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(aad);
        self.last = (start, self.bytes.len());
        self.last
    }

    pub fn get(&self, range: (usize, usize)) -> &[u8] {
        &self.bytes[range.0..range.1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_in_parallel_chunks() {
        let mut jobs: Vec<u64> = (0..10_000).collect();
        run(&mut jobs, |j| -> Result<(), ()> {
            *j *= 2;
            Ok(())
        })
        .unwrap();
        assert!(jobs.iter().enumerate().all(|(i, j)| *j == 2 * i as u64));
    }

    #[test]
    fn the_first_failure_in_order_is_reported() {
        let mut jobs: Vec<u64> = (0..10_000).collect();
        let r = run(&mut jobs, |j| if *j == 7_000 || *j == 9_000 { Err(*j) } else { Ok(()) });
        assert_eq!(r, Err((7_000, 7_000)));
        let mut small: Vec<u64> = (0..10).collect();
        let r = run(&mut small, |j| if *j >= 3 { Err(*j) } else { Ok(()) });
        assert_eq!(r, Err((3, 3)));
    }

    #[test]
    fn equal_consecutive_aads_share_one_copy() {
        let mut a = AadArena::default();
        let x = a.add(b"a:b:");
        assert_eq!(a.add(b"a:b:"), x);
        let y = a.add(b"a:c:");
        assert_ne!(x, y);
        assert_eq!(a.get(x), b"a:b:");
        assert_eq!(a.get(y), b"a:c:");
    }
}
