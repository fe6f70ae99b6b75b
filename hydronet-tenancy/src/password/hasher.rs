//! Argon2id hashing and verification, run on a few low-priority threads of their own.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use tokio::sync::{OnceCell, oneshot};

use super::Password;

/// The password behind the dummy hash used by [`PasswordHasher::verify_dummy`].
const DUMMY_PASSWORD: &str = "hydronet dummy password for unknown accounts";

/// A failure to hash or verify a password. A wrong password is not an error: it is
/// [`Verification::Invalid`].
///
/// The messages are generic; the underlying cause is logged with `tracing` where it happens.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The Argon2 computation failed (e.g. it could not allocate its memory).
    #[error("password hashing failed")]
    Hash,

    /// The stored hash is not a PHC string this hasher can verify.
    #[error("stored password hash is malformed")]
    MalformedHash,

    /// The blocking task running the computation panicked or was cancelled.
    #[error("password hashing task failed")]
    Task,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password does not match.
    Invalid,

    /// The password matches.
    Valid {
        /// The stored hash uses another algorithm or other parameters than the hasher's: hash the
        /// password again and store the new hash.
        needs_rehash: bool,
    },
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory cost, in KiB. At least 8 per lane of parallelism.
    pub memory_kib: u32,

    /// Number of passes over the memory. At least 1.
    pub iterations: u32,

    /// Number of lanes. At least 1.
    pub parallelism: u32,
}

impl HashParams {
    /// The OWASP recommendation for Argon2id: 19 MiB of memory, 2 iterations, 1 lane.
    pub const OWASP: HashParams = HashParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The equivalent `argon2` parameters, with the default 32-byte output.
    fn to_argon2(self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }
}

/// Hashes and verifies passwords with Argon2id, off the async runtime.
///
/// Computations run on `max_concurrent` threads of the hasher's own, started on first use
/// and lowered in priority (nice 10 on Linux), so at most that many hashes use CPU and
/// memory at a time and, when the CPUs are busy, request handling goes first: a storm of
/// logins slows logins, not the rest of the service. The others wait their turn in a queue;
/// a computation whose caller stopped waiting is skipped. Cloning is cheap and clones
/// share the threads and the dummy hash.
///
/// The methods must be awaited inside a tokio runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// The state shared by a hasher's clones.
struct Inner {
    params: HashParams,
    argon2: Argon2<'static>,
    max_concurrent: usize,
    /// The queue to the hashing threads, which end when it is dropped.
    pool: OnceLock<Mutex<Sender<Job>>>,
    dummy: OnceCell<String>,
}

/// A stored hash that parsed and names an Argon2 variant.
struct StoredHash {
    phc: PasswordHash,
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

impl PasswordHasher {
    /// A hasher with [`HashParams::OWASP`] that runs at most `max_concurrent` computations at once.
    ///
    /// A `max_concurrent` of 0 is treated as 1.
    pub fn new(max_concurrent: usize) -> Self {
        Self::with_params(HashParams::OWASP, max_concurrent)
    }

    /// A hasher with the given parameters that runs at most `max_concurrent` computations at once.
    ///
    /// A `max_concurrent` of 0 is treated as 1.
    ///
    /// # Panics
    ///
    /// When `params` are outside Argon2's limits: fewer than 8 KiB of memory per lane, zero
    /// iterations, or a parallelism of 0 or above 2²⁴ − 1.
    pub fn with_params(params: HashParams, max_concurrent: usize) -> Self {
        let argon2_params = params
            .to_argon2()
            .unwrap_or_else(|err| panic!("invalid Argon2 parameters {params:?}: {err}"));

        let max_concurrent = max_concurrent.clamp(1, MAX_THREADS);
        let inner = Inner {
            params,
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params),
            max_concurrent,
            pool: OnceLock::new(),
            dummy: OnceCell::new(),
        };

        Self {
            inner: Arc::new(inner),
        }
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// Hashes a password with a fresh random salt, returning an Argon2id PHC string
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    ///
    /// # Errors
    ///
    /// [`PasswordError::Hash`] when Argon2 fails, [`PasswordError::Task`] when the blocking task
    /// does not complete.
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let secret = password.expose().to_owned();

        let outcome = self
            .run_blocking(move |argon2| argon2.hash_password(secret.as_bytes()))
            .await?;

        match outcome {
            Ok(hash) => Ok(hash.to_string()),
            Err(err) => Err(computation_error(err)),
        }
    }

    /// Checks a password against a stored PHC string.
    ///
    /// The stored hash's own algorithm and parameters are used for the check. On a match,
    /// `needs_rehash` tells whether they differ from [`params`](Self::params) (or the hash is not
    /// Argon2id version 19 with a 32-byte output), so the caller can store a fresh
    /// [`hash`](Self::hash) while it has the password in hand.
    ///
    /// # Errors
    ///
    /// [`PasswordError::MalformedHash`] when `stored` is not an Argon2 PHC string with a salt and
    /// a hash (checked before any hashing), [`PasswordError::Hash`] when Argon2 fails,
    /// [`PasswordError::Task`] when the blocking task does not complete.
    pub async fn verify(
        &self,
        password: &Password,
        stored: &str,
    ) -> Result<Verification, PasswordError> {
        let stored = parse_stored(stored)?;
        let needs_rehash = self.needs_rehash(&stored);

        let secret = password.expose().to_owned();
        let outcome = self
            .run_blocking(move |argon2| argon2.verify_password(secret.as_bytes(), &stored.phc))
            .await?;

        match outcome {
            Ok(()) => Ok(Verification::Valid { needs_rehash }),
            Err(password_hash::Error::PasswordInvalid) => Ok(Verification::Invalid),
            Err(err) => Err(computation_error(err)),
        }
    }

    /// Spends the time of a failed login on an account that does not exist, so the response
    /// does not reveal whether the email is registered.
    ///
    /// The password is checked against a dummy hash made with this hasher's parameters on first
    /// use and shared by its clones. Always returns [`Verification::Invalid`]; failures are
    /// logged and otherwise ignored.
    pub async fn verify_dummy(&self, password: &Password) -> Verification {
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| async {
                let password = Password(DUMMY_PASSWORD.to_owned());
                self.hash(&password).await
            })
            .await;

        if let Ok(stored) = dummy {
            // The outcome is irrelevant: only the time spent matters.
            let _ = self.verify(password, stored).await;
        }

        Verification::Invalid
    }

    /// Whether a stored hash differs from what [`hash`](Self::hash) would produce now.
    fn needs_rehash(&self, stored: &StoredHash) -> bool {
        let wanted = self.inner.params;

        stored.algorithm != Algorithm::Argon2id
            || stored.version != Version::V0x13
            || stored.params.m_cost() != wanted.memory_kib
            || stored.params.t_cost() != wanted.iterations
            || stored.params.p_cost() != wanted.parallelism
            || stored.params.output_len() != Some(Params::DEFAULT_OUTPUT_LEN)
    }

    /// Runs `job` on a hashing thread once one is free.
    async fn run_blocking<T, F>(&self, job: F) -> Result<T, PasswordError>
    where
        F: FnOnce(&Argon2<'static>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, outcome) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let task: Job = Box::new(move || {
            if !done.is_closed() {
                let _ = done.send(job(&inner.argon2));
            }
        });
        let queued = self
            .inner
            .pool
            .get_or_init(|| Mutex::new(start_threads(self.inner.max_concurrent)))
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(task);
        if queued.is_err() {
            tracing::error!("password hashing threads are gone");
            return Err(PasswordError::Task);
        }
        outcome.await.map_err(|_| {
            tracing::error!("password hashing task failed");
            PasswordError::Task
        })
    }
}

/// A computation for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// More threads than this would only queue on the CPUs.
const MAX_THREADS: usize = 256;

/// The nice value of hashing threads: below request handling, above idle work.
#[cfg(target_os = "linux")]
const HASH_NICE: i32 = 10;

/// Starts `count` hashing threads taking jobs from the returned queue.
fn start_threads(count: usize) -> Sender<Job> {
    let (queue, jobs) = channel::<Job>();
    let jobs = Arc::new(Mutex::new(jobs));
    for i in 0..count {
        let jobs = Arc::clone(&jobs);
        let spawned = std::thread::Builder::new()
            .name(format!("hydronet-hash-{i}"))
            .spawn(move || work(&jobs));
        if let Err(err) = spawned {
            tracing::error!(error = %err, "cannot start a password hashing thread");
        }
    }
    queue
}

/// A hashing thread: lowers its own priority, then runs jobs until the queue closes.
fn work(jobs: &Mutex<Receiver<Job>>) {
    // On Linux `setpriority(PRIO_PROCESS, 0, …)` applies to the calling thread alone.
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(None, HASH_NICE) {
        tracing::debug!(error = %err, "password hashing thread keeps its priority");
    }
    loop {
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        // A panicking job drops its reply, which its caller sees as a failed task.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("max_concurrent", &self.inner.max_concurrent)
            .finish_non_exhaustive()
    }
}

/// Parses a stored PHC string, refusing anything Argon2 cannot verify.
fn parse_stored(stored: &str) -> Result<StoredHash, PasswordError> {
    let malformed = |reason: &dyn fmt::Display| {
        tracing::error!(%reason, "stored password hash is malformed");
        PasswordError::MalformedHash
    };

    let phc = PasswordHash::new(stored).map_err(|err| malformed(&err))?;
    if phc.salt.is_none() || phc.hash.is_none() {
        return Err(malformed(&"no salt or no hash"));
    }

    let algorithm = Algorithm::new(phc.algorithm).map_err(|err| malformed(&err))?;
    let version = match phc.version {
        Some(id) => Version::try_from(id).map_err(|err| malformed(&err))?,
        None => Version::default(),
    };
    let params = Params::try_from(&phc).map_err(|err| malformed(&err))?;

    Ok(StoredHash {
        phc,
        algorithm,
        version,
        params,
    })
}

/// Maps an Argon2 failure other than a wrong password, logging its cause.
fn computation_error(err: password_hash::Error) -> PasswordError {
    match err {
        password_hash::Error::Internal
        | password_hash::Error::OutOfMemory
        | password_hash::Error::Crypto
        | password_hash::Error::RngFailure => {
            tracing::error!(error = %err, "password hashing failed");
            PasswordError::Hash
        }
        _ => {
            tracing::error!(error = %err, "stored password hash is malformed");
            PasswordError::MalformedHash
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordPolicy;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Cheap parameters so the tests run fast.
    const SMALL: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn password(text: &str) -> Password {
        PasswordPolicy::new().check_candidate(text).unwrap()
    }

    fn small_hasher() -> PasswordHasher {
        PasswordHasher::with_params(SMALL, 2)
    }

    #[tokio::test]
    async fn hash_then_verify_round_trips() {
        let hasher = small_hasher();

        let stored = hasher.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();
        let outcome = hasher.verify(&password("vN7$pQ2!xR4wz"), &stored).await;

        assert!(
            stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{stored}"
        );
        assert_eq!(
            outcome.unwrap(),
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn each_hash_gets_its_own_salt() {
        let hasher = small_hasher();

        let first = hasher.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();
        let second = hasher.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();

        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn owasp_params_round_trip() {
        let hasher = PasswordHasher::new(1);

        let stored = hasher.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();
        let outcome = hasher.verify(&password("vN7$pQ2!xR4wz"), &stored).await;

        assert_eq!(hasher.params(), HashParams::OWASP);
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            outcome.unwrap(),
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn wrong_password_is_invalid() {
        let hasher = small_hasher();
        let stored = hasher.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();

        let outcome = hasher.verify(&password("vN7$pQ2!xR4wZ"), &stored).await;

        assert_eq!(outcome.unwrap(), Verification::Invalid);
    }

    #[tokio::test]
    async fn other_params_need_a_rehash() {
        let old = small_hasher();
        let new = PasswordHasher::with_params(
            HashParams {
                memory_kib: 2048,
                ..SMALL
            },
            2,
        );
        let stored = old.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();

        let outcome = new.verify(&password("vN7$pQ2!xR4wz"), &stored).await;

        assert_eq!(outcome.unwrap(), Verification::Valid { needs_rehash: true });
    }

    #[tokio::test]
    async fn other_algorithm_needs_a_rehash() {
        let params = SMALL.to_argon2().unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
        let stored = argon2i.hash_password(b"vN7$pQ2!xR4wz").unwrap().to_string();
        assert!(stored.starts_with("$argon2i$"), "{stored}");

        let outcome = small_hasher()
            .verify(&password("vN7$pQ2!xR4wz"), &stored)
            .await;

        assert_eq!(outcome.unwrap(), Verification::Valid { needs_rehash: true });
    }

    #[tokio::test]
    async fn malformed_hashes_are_errors() {
        let hasher = small_hasher();
        let stored = hasher.hash(&password("vN7$pQ2!xR4wz")).await.unwrap();
        let without_hash = stored.rsplit_once('$').unwrap().0;
        let malformed = [
            "",
            "not a hash",
            without_hash,
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        ];

        for stored in malformed {
            let outcome = hasher.verify(&password("vN7$pQ2!xR4wz"), stored).await;

            assert!(
                matches!(outcome, Err(PasswordError::MalformedHash)),
                "{stored:?}: {outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn dummy_verification_is_always_invalid() {
        let hasher = small_hasher();

        let outcome = hasher.verify_dummy(&password(DUMMY_PASSWORD)).await;

        assert_eq!(outcome, Verification::Invalid);
        assert_eq!(
            hasher.verify_dummy(&password("anything")).await,
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn dummy_hash_is_made_once_with_the_hashers_params() {
        let hasher = small_hasher();
        let clone = hasher.clone();

        hasher.verify_dummy(&password("anything")).await;
        let first = hasher.inner.dummy.get().unwrap().clone();
        clone.verify_dummy(&password("anything")).await;

        assert!(
            first.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{first}"
        );
        assert_eq!(clone.inner.dummy.get(), Some(&first));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_all_succeed_under_a_cap_of_one() {
        let hasher = PasswordHasher::with_params(SMALL, 1);

        let hashes = (0..4).map(|i| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(&password(&format!("vN7$pQ2!xR4w{i}"))).await })
        });
        let hashes = futures_join_all(hashes).await;

        assert_eq!(hashes.len(), 4);
        for (i, stored) in hashes.iter().enumerate() {
            let candidate = password(&format!("vN7$pQ2!xR4w{i}"));
            let outcome = hasher.verify(&candidate, stored).await.unwrap();
            assert_eq!(
                outcome,
                Verification::Valid {
                    needs_rehash: false
                }
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_work_never_exceeds_the_cap() {
        for cap in [1, 2] {
            let hasher = PasswordHasher::with_params(SMALL, cap);
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));

            let jobs = (0..6).map(|_| {
                let (hasher, running, peak) = (hasher.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    hasher
                        .run_blocking(move |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            });
            futures_join_all(jobs).await;

            let peak = peak.load(Ordering::SeqCst);
            assert!((1..=cap).contains(&peak), "peak {peak} with cap {cap}");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_request_priority() {
        let hasher = PasswordHasher::with_params(SMALL, 1);
        // The nice value is field 19 of /proc/thread-self/stat, counted after the command
        // name's closing parenthesis as field 2.
        let nice = hasher
            .run_blocking(|_| {
                let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
                let after_name = &stat[stat.rfind(')').unwrap() + 2..];
                let name = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
                let nice: i32 = after_name.split(' ').nth(16).unwrap().parse().unwrap();
                (name.trim().to_owned(), nice)
            })
            .await
            .unwrap();
        assert_eq!(nice, ("hydronet-hash-0".to_owned(), HASH_NICE));
    }

    #[tokio::test]
    async fn a_panicking_job_is_a_task_error_and_the_thread_goes_on() {
        let hasher = PasswordHasher::with_params(SMALL, 1);
        let failed = hasher.run_blocking(|_| panic!("job fails")).await;
        assert!(matches!(failed, Err::<(), _>(PasswordError::Task)));
        assert!(hasher.hash(&password("vN7$pQ2!xR4wz")).await.is_ok());
    }

    #[tokio::test]
    async fn zero_concurrency_is_treated_as_one() {
        let hasher = PasswordHasher::with_params(SMALL, 0);

        let stored = hasher.hash(&password("vN7$pQ2!xR4wz")).await;

        assert!(stored.is_ok());
    }

    #[test]
    #[should_panic(expected = "invalid Argon2 parameters")]
    fn invalid_params_panic_at_construction() {
        PasswordHasher::with_params(
            HashParams {
                memory_kib: 1,
                ..SMALL
            },
            1,
        );
    }

    #[tokio::test]
    async fn debug_shows_no_secret() {
        let hasher = small_hasher();
        hasher.verify_dummy(&password("vN7$pQ2!xR4wz")).await;

        let debug = format!("{hasher:?}");

        assert!(debug.starts_with("PasswordHasher {"), "{debug}");
        assert!(debug.contains("memory_kib: 1024"), "{debug}");
        assert!(!debug.contains('$'), "{debug}");
    }

    /// Awaits spawned tasks in order, panicking if one failed.
    async fn futures_join_all<T, E: fmt::Debug>(
        tasks: impl Iterator<Item = tokio::task::JoinHandle<Result<T, E>>>,
    ) -> Vec<T> {
        let handles: Vec<_> = tasks.collect();
        let mut outputs = Vec::with_capacity(handles.len());
        for handle in handles {
            outputs.push(handle.await.unwrap().unwrap());
        }
        outputs
    }
}
