//! Password hashing that cannot be used to exhaust the machine: argon2id on a few dedicated
//! threads, each reusing one memory buffer (so freed hash memory is never left to the
//! allocator to hoard), with a bounded queue in front. A request that cannot get a thread
//! within a short wait is answered `Busy` (503 with `Retry-After`), never queued forever.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use tokio::sync::{Semaphore, oneshot};

/// How long a request waits for a free hashing thread before it is told to come back later.
const ADMISSION_WAIT: Duration = Duration::from_secs(3);
/// Requests allowed to wait per hashing thread; beyond that, `Busy` at once.
const WAITERS_PER_THREAD: usize = 32;
/// Stored hashes asking for more memory than this (KiB) are not verified: a tampered row must
/// not make a login allocate gigabytes.
const MAX_VERIFY_M_COST: u32 = 64 * 1024;

/// Why no hash was computed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full: retry after a few seconds.
    #[error("password hashing is busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

enum Job {
    Hash(String, oneshot::Sender<Result<String, String>>),
    /// `None` as the stored hash: verify against a dummy, so an unknown user costs the same.
    Verify(String, Option<String>, oneshot::Sender<bool>),
}

/// The hashing service: clone freely, all clones share the threads.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    jobs: mpsc::Sender<Job>,
    /// argon2id computations finished (hashes and verifications, dummy ones included).
    computed: Arc<AtomicU64>,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let computed = Arc::new(AtomicU64::new(0));
        for i in 0..threads {
            let queue = queue.clone();
            let computed = computed.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("doorman-hash-{i}"))
                .spawn(move || worker(&queue, &computed));
            if let Err(err) = spawned {
                tracing::error!(%err, "could not start a password hashing thread");
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(threads)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: threads * WAITERS_PER_THREAD,
            jobs,
            computed,
        }
    }

    /// How many argon2id computations have finished: an unknown user's sign-in costs one,
    /// exactly as a wrong password does.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::SeqCst)
    }

    /// A hasher whose threads are gone: every hash fails. For tests that prove a path never
    /// reaches the hash.
    #[cfg(test)]
    pub(crate) fn unavailable() -> Self {
        let (jobs, _) = mpsc::channel();
        Self {
            permits: Arc::new(Semaphore::new(1)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: 1,
            jobs,
            computed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// An argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.run(Job::Hash(password, reply), answer)
            .await?
            .map_err(HashError::Failed)
    }

    /// Whether `password` matches `stored`; with `None` the same work is done against a hash no
    /// password matches, so the caller's timing does not tell whether an account exists.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let (reply, answer) = oneshot::channel();
        self.run(Job::Verify(password, stored, reply), answer).await
    }

    async fn run<T>(&self, job: Job, answer: oneshot::Receiver<T>) -> Result<T, HashError> {
        if self.permits.available_permits() == 0
            && self.waiting.load(Ordering::Relaxed) >= self.max_waiting
        {
            return Err(HashError::Busy);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = tokio::time::timeout(ADMISSION_WAIT, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let Ok(Ok(_permit)) = permit else {
            return Err(HashError::Busy);
        };
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("no hashing thread is running".into()))?;
        answer
            .await
            .map_err(|_| HashError::Failed("the hashing thread stopped".into()))
    }
}

/// One hashing thread: takes jobs until the service is dropped, reusing its buffer.
fn worker(queue: &Mutex<mpsc::Receiver<Job>>, computed: &AtomicU64) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.recv()
        };
        let Ok(job) = job else { return };
        match job {
            Job::Hash(password, reply) => {
                let hashed = hash_with(password.as_bytes(), &mut memory);
                computed.fetch_add(1, Ordering::SeqCst);
                let _ = reply.send(hashed);
            }
            Job::Verify(password, stored, reply) => {
                let matched = match stored {
                    Some(stored) => verify_with(password.as_bytes(), &stored, &mut memory),
                    None => {
                        let _ = verify_with(password.as_bytes(), dummy_hash(), &mut memory);
                        false
                    }
                };
                computed.fetch_add(1, Ordering::SeqCst);
                let _ = reply.send(matched);
            }
        }
    }
}

/// OWASP's first argon2id option: m = 19 MiB, t = 2, p = 1 (the crate's default).
fn params() -> Params {
    Params::default()
}

fn blocks(memory: &mut Vec<Block>, count: usize) -> &mut [Block] {
    if memory.len() < count {
        memory.resize(count, Block::default());
    }
    &mut memory[..count]
}

/// Hashes with the caller's memory buffer (grown once to the parameters' size).
pub fn hash_with(password: &[u8], memory: &mut Vec<Block>) -> Result<String, String> {
    let params = params();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Verifies with the caller's memory buffer; a malformed stored hash never matches.
pub fn verify_with(password: &[u8], stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(phc.algorithm.as_str()),
        Params::try_from(&phc),
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_M_COST {
        return false;
    }
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if argon
        .hash_password_into_with_memory(
            password,
            salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// A hash no password matches, made once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        let mut memory = Vec::new();
        hash_with(&random, &mut memory).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password_and_is_standard_argon2id() {
        let mut memory = Vec::new();
        let h = hash_with(b"correct horse battery", &mut memory).expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_with(b"correct horse battery", &h, &mut memory));
        assert!(!verify_with(b"correct horse batterY", &h, &mut memory));
        assert!(!verify_with(b"anything", "not a hash", &mut memory));
        use argon2::PasswordVerifier;
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", h.as_str())
                .is_ok(),
            "the argon2 crate's own verifier agrees"
        );
    }

    #[test]
    fn hashes_made_elsewhere_with_other_parameters_still_verify() {
        use argon2::PasswordHasher as _;
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(12 * 1024, 3, 1, None).expect("params"),
        )
        .hash_password(b"pass phrase here")
        .expect("hash")
        .to_string();
        let mut memory = Vec::new();
        assert!(verify_with(b"pass phrase here", &other, &mut memory));
        assert!(!verify_with(b"pass phrase herE", &other, &mut memory));
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_instead_of_waiting_forever() {
        let hasher = PasswordHasher::new(1);
        let many: Vec<_> = (0..(WAITERS_PER_THREAD + 8))
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(format!("password number {i}")).await })
            })
            .collect();
        let mut busy = 0;
        for task in many {
            match task.await.expect("task") {
                Ok(_) => {}
                Err(HashError::Busy) => busy += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(busy > 0, "some requests are turned away");
    }
}
