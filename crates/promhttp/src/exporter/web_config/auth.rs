//! HTTP basic auth against bcrypt hashes (`basic_auth_users`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use http::HeaderValue;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::{WebConfigError, MAX_BCRYPT_COST, MIN_BCRYPT_COST};
use crate::util::lock;

/// How many successful logins the cache keeps.
const CACHE_CAPACITY: usize = 100;

/// Checks every hash the way exporter-toolkit does at start-up (`bcrypt.Cost`), so that
/// a typo fails the configuration instead of every login, and refuses costs outside
/// [`MIN_BCRYPT_COST`]`..=`[`MAX_BCRYPT_COST`]. Reads the cost field only: no bcrypt is
/// computed, so a hash of cost 31 is refused at once.
pub(super) fn validate_users(users: &BTreeMap<String, String>) -> Result<(), WebConfigError> {
    for (user, hash) in users {
        hash_cost(hash).map_err(|m| WebConfigError::new(format!("basic_auth_users.{user}"), m))?;
    }
    Ok(())
}

/// The cost of a bcrypt hash, or why it is not one.
fn hash_cost(hash: &str) -> Result<u32, String> {
    // bcrypt 0.19.0-0.19.1 panicked on non-ASCII hashes (RUSTSEC-2026-0199): refuse them
    // before the library sees them, whatever its version.
    if !hash.is_ascii() {
        return Err("not a bcrypt hash: contains non-ASCII characters".into());
    }
    if hash.len() < 59 {
        // Go's wording, which exporter-toolkit users know.
        return Err("not a bcrypt hash: hashedSecret too short to be a bcrypted password".into());
    }
    let parts = bcrypt::HashParts::from_str(hash)
        .map_err(|e| format!("not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters): {e}"))?;
    let cost = parts.get_cost();
    check_cost(cost)?;
    Ok(cost)
}

/// Refuses a bcrypt cost outside [`MIN_BCRYPT_COST`]`..=`[`MAX_BCRYPT_COST`].
fn check_cost(cost: u32) -> Result<(), String> {
    if cost < MIN_BCRYPT_COST {
        return Err(format!(
            "bcrypt cost {cost} is below the minimum of {MIN_BCRYPT_COST}; hash the password \
             again with cost 10 to 12 (htpasswd -nBC 10)"
        ));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(format!(
            "bcrypt cost {cost} is above the maximum of {MAX_BCRYPT_COST}: every uncached \
             login and every unknown user would cost about {} of CPU; hash the password \
             again with cost 10 to 12 (htpasswd -nBC 10)",
            bcrypt_time(cost)
        ));
    }
    Ok(())
}

/// Roughly how long one bcrypt check of `cost` takes on a current core (70 ms at 10).
fn bcrypt_time(cost: u32) -> String {
    let secs = 0.07 * 2f64.powi(cost.min(64) as i32 - 10);
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.0} minutes", secs / 60.0)
    } else if secs < 3.0 * 86400.0 {
        format!("{:.0} hours", secs / 3600.0)
    } else {
        format!("{:.0} days", secs / 86400.0)
    }
}

/// A hash of a random password nobody knows, one per cost, shared by the process.
///
/// `cost` must have passed [`check_cost`]; it is checked again here, so that no path can
/// make this spend hours on a cost read from the configuration.
fn dummy_hash(cost: u32) -> Result<String, WebConfigError> {
    check_cost(cost).map_err(|m| WebConfigError::new("basic_auth_users", m))?;
    static DUMMIES: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let dummies = DUMMIES.get_or_init(Default::default);
    if let Some(hash) = lock(dummies).get(&cost) {
        return Ok(hash.clone());
    }
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| WebConfigError::new("basic_auth_users", "no system randomness"))?;
    let password: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let hash = bcrypt::hash(password, cost)
        .map_err(|e| WebConfigError::new("basic_auth_users", e.to_string()))?;
    Ok(lock(dummies).entry(cost).or_insert(hash).clone())
}

struct Inner {
    users: BTreeMap<String, String>,
    /// Checked for unknown users, so that they cost as much as known ones.
    dummy: String,
    /// Keys the cache; random per instance.
    cache_key: hmac::Key,
    /// MACs of (user, hash, password) that verified, for users that exist.
    cache: Mutex<HashSet<[u8; 32]>>,
    /// Bounds the bcrypt computations that [`BasicAuth::check_async`] runs at once.
    bcrypt_slots: Arc<tokio::sync::Semaphore>,
}

/// HTTP basic auth against the bcrypt hashes of `basic_auth_users`.
///
/// [`check`](Self::check) takes the request's `Authorization` header and says whether
/// it names a configured user with the right password. The rules:
///
/// - the scheme is `Basic`, in any case; anything unparsable (bad base64, no `:`,
///   credentials that are not UTF-8) is a failure, never a panic; the user name ends at
///   the first `:` (passwords may contain colons);
/// - a user that does not exist is still checked against a dummy hash of the same bcrypt
///   cost as the configured users, so response times do not reveal which users exist;
/// - successful logins are cached (100 entries; when full, about 10% are evicted), so a
///   scraper does not pay bcrypt on every scrape. The cache key is an HMAC, under a
///   random per-instance key, of the length-prefixed user, stored hash and password:
///   no two different triples share a key (the CVE-2022-46146 bypass), and plain
///   passwords are not kept. Only successes of existing users are cached, so failed
///   attempts cannot evict the entries of legitimate clients.
///
/// bcrypt takes tens of milliseconds at the usual cost of 10, so [`check`](Self::check)
/// blocks: from async code use [`check_async`](Self::check_async), which answers cached
/// logins at once and runs bcrypt on tokio's blocking pool, one computation at a time
/// (like exporter-toolkit), so a flood of wrong passwords cannot take every core.
///
/// On failure the server answers `401 Unauthorized` with
/// [`WWW_AUTHENTICATE`](Self::WWW_AUTHENTICATE) in a `WWW-Authenticate` header.
///
/// ```
/// use std::collections::BTreeMap;
/// use http::HeaderValue;
/// use promhttp::exporter::web_config::BasicAuth;
///
/// // bcrypt("s3cret") at cost 4; make real ones with `htpasswd -nBC 10 "" | tr -d ':\n'`.
/// let hash = "$2b$04$jt0gDNDuYWFgIoziVBRFbunlVjWxMq9M00CwI0Gtm/TGXx81JoTkC";
/// let users = BTreeMap::from([("prometheus".to_string(), hash.to_string())]);
/// let auth = BasicAuth::new(&users).unwrap();
///
/// // "prometheus:s3cret"
/// let good = HeaderValue::from_static("Basic cHJvbWV0aGV1czpzM2NyZXQ=");
/// assert!(auth.check(Some(&good)));
/// assert!(!auth.check(Some(&HeaderValue::from_static("Basic cHJvbWV0aGV1czp4"))));
/// assert!(!auth.check(None));
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    inner: Arc<Inner>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.inner.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Splits `Authorization: Basic <base64(user:password)>`.
fn parse_authorization(value: &HeaderValue) -> Option<(String, String)> {
    let bytes = value.as_bytes();
    let (scheme, rest) = bytes.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    let encoded = rest[start..].trim_ascii_end();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let credentials = String::from_utf8(decoded).ok()?;
    let (user, password) = credentials.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl BasicAuth {
    /// The value of the `WWW-Authenticate` header on a `401` response.
    pub const WWW_AUTHENTICATE: &'static str = "Basic";

    /// Builds the checker from `basic_auth_users` (user → bcrypt hash). Every hash is
    /// validated first; costs outside
    /// [`MIN_BCRYPT_COST`](super::MIN_BCRYPT_COST)`..=`[`MAX_BCRYPT_COST`](super::MAX_BCRYPT_COST)
    /// are errors. The first time the process sees a bcrypt cost, this computes one
    /// bcrypt hash of that cost (the dummy for unknown users): about 70 ms at cost 10,
    /// about 1 s at the maximum of 14.
    ///
    /// With no users, every check fails: serve without auth instead (see
    /// [`WebConfig::basic_auth`](super::WebConfig::basic_auth)).
    pub fn new(users: &BTreeMap<String, String>) -> Result<Self, WebConfigError> {
        // First, before any bcrypt: a cost above MAX_BCRYPT_COST is refused here, not
        // discovered hours into making the dummy hash.
        validate_users(users)?;
        // The most common cost among the users (the lowest on a tie): unknown users then
        // take as long as most known ones.
        let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
        for hash in users.values() {
            // Validated above.
            if let Ok(cost) = hash_cost(hash) {
                *counts.entry(cost).or_default() += 1;
            }
        }
        let cost = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(cost, _)| *cost)
            .unwrap_or(MIN_BCRYPT_COST);
        let dummy = dummy_hash(cost)?;
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| WebConfigError::new("basic_auth_users", "no system randomness"))?;
        Ok(BasicAuth {
            inner: Arc::new(Inner {
                users: users.clone(),
                dummy,
                cache_key,
                cache: Mutex::new(HashSet::new()),
                bcrypt_slots: Arc::new(tokio::sync::Semaphore::new(1)),
            }),
        })
    }

    /// The number of configured users.
    pub fn len(&self) -> usize {
        self.inner.users.len()
    }

    /// True when no users are configured (then every check fails).
    pub fn is_empty(&self) -> bool {
        self.inner.users.is_empty()
    }

    /// Whether the `Authorization` header carries valid credentials. Runs bcrypt unless
    /// the login is cached, so it may block for tens of milliseconds: in async code use
    /// [`check_async`](Self::check_async) or `spawn_blocking`.
    pub fn check(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_authorization) else {
            return false;
        };
        self.inner.verify(&user, &password)
    }

    /// Like [`check`](Self::check), for async servers on tokio: a cached login is
    /// answered at once; otherwise bcrypt runs on the blocking thread pool, one
    /// computation at a time across all clones of this checker.
    pub async fn check_async(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_authorization) else {
            return false;
        };
        let (hash, exists) = self.inner.lookup(&user);
        let mac = self.inner.mac(&user, hash, &password);
        if exists && self.inner.cached(&mac) {
            return true;
        }
        let Ok(slot) = self.inner.bcrypt_slots.clone().acquire_owned().await else {
            return false; // never closed
        };
        let inner = self.inner.clone();
        // The slot moves into the task, so a client that goes away does not free it
        // before bcrypt ends.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            inner.verify(&user, &password)
        })
        .await
        .unwrap_or(false)
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.inner.cache.lock().unwrap().len()
    }

    #[cfg(test)]
    fn dummy(&self) -> &str {
        &self.inner.dummy
    }
}

impl Inner {
    fn lookup(&self, user: &str) -> (&str, bool) {
        match self.users.get(user) {
            Some(hash) => (hash, true),
            None => (&self.dummy, false),
        }
    }

    /// HMAC over length-prefixed fields: injective, whatever bytes the fields hold.
    fn mac(&self, user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.cache_key);
        for field in [user, hash, password] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field.as_bytes());
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn cached(&self, mac: &[u8; 32]) -> bool {
        lock(&self.cache).contains(mac)
    }

    fn remember(&self, mac: [u8; 32]) {
        let mut cache = lock(&self.cache);
        if cache.contains(&mac) {
            return;
        }
        if cache.len() >= CACHE_CAPACITY {
            // Drop about 10% at once so this does not happen on every insert. The keys
            // are MACs, so the set's iteration order is as good as random.
            let evict: Vec<[u8; 32]> = cache.iter().take(cache.len() / 10 + 1).copied().collect();
            for key in evict {
                cache.remove(&key);
            }
        }
        cache.insert(mac);
    }

    fn verify(&self, user: &str, password: &str) -> bool {
        let (hash, exists) = self.lookup(user);
        let mac = self.mac(user, hash, password);
        if self.cached(&mac) && exists {
            return true;
        }
        // Unknown users run bcrypt too (against the dummy), and never succeed.
        let matches = bcrypt::verify(password.as_bytes(), hash).unwrap_or(false);
        if matches && exists {
            self.remember(mac);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn raw_header(scheme: &str, credentials: &[u8]) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        HeaderValue::from_str(&format!("{scheme} {encoded}")).unwrap()
    }

    /// alice/alice123, bob/bob:with:colons, carol/ (empty password), all at cost 4.
    fn users() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("alice".to_string(), bcrypt::hash("alice123", 4).unwrap()),
            (
                "bob".to_string(),
                bcrypt::hash("bob:with:colons", 4).unwrap(),
            ),
            ("carol".to_string(), bcrypt::hash("", 4).unwrap()),
        ])
    }

    /// A checker whose dummy hash is exporter-toolkit's: bcrypt("fakepassword").
    fn with_known_dummy(users: &BTreeMap<String, String>) -> BasicAuth {
        let auth = BasicAuth::new(users).unwrap();
        let inner = Inner {
            users: users.clone(),
            dummy: bcrypt::hash("fakepassword", 4).unwrap(),
            cache_key: hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).unwrap(),
            cache: Mutex::new(HashSet::new()),
            bcrypt_slots: auth.inner.bcrypt_slots.clone(),
        };
        BasicAuth {
            inner: Arc::new(inner),
        }
    }

    #[test]
    fn auth_01_matrix() {
        let auth = BasicAuth::new(&users()).unwrap();
        assert_eq!(auth.len(), 3);
        assert!(!auth.is_empty());
        assert!(!auth.check(None));
        assert!(auth.check(Some(&header("alice", "alice123"))));
        assert!(!auth.check(Some(&header("alice", "alice1234"))));
        assert!(!auth.check(Some(&header("alice", ""))));
        assert!(!auth.check(Some(&header("mallory", "alice123"))));
        assert!(!auth.check(Some(&header("Alice", "alice123"))));
        assert!(auth.check(Some(&header("bob", "bob:with:colons"))));
        assert!(!auth.check(Some(&header("bob", "bob"))));
        assert!(auth.check(Some(&header("carol", ""))));
        // Twice: the cached answer is the same.
        assert!(auth.check(Some(&header("alice", "alice123"))));
        assert!(!auth.check(Some(&header("alice", "alice1234"))));
        assert_eq!(auth.cache_len(), 3);
        // No users: nothing authenticates.
        let empty = BasicAuth::new(&BTreeMap::new()).unwrap();
        assert!(empty.is_empty());
        assert!(!empty.check(Some(&header("", ""))));
    }

    #[test]
    fn auth_02_dummy_password_never_authenticates() {
        let auth = with_known_dummy(&users());
        // Cold cache, then warm.
        for _ in 0..3 {
            assert!(!auth.check(Some(&header("fakeuser", "fakepassword"))));
        }
        assert_eq!(auth.cache_len(), 0);
        // The real checker's dummy is of a password nobody knows, at the users' cost.
        let auth = BasicAuth::new(&users()).unwrap();
        assert!(!auth.check(Some(&header("fakeuser", "fakepassword"))));
        assert_eq!(
            bcrypt::HashParts::from_str(auth.dummy())
                .unwrap()
                .get_cost(),
            4
        );
    }

    #[test]
    fn dummy_cost_follows_the_users() {
        let users = BTreeMap::from([
            ("a".to_string(), bcrypt::hash("x", 5).unwrap()),
            ("b".to_string(), bcrypt::hash("x", 5).unwrap()),
            ("c".to_string(), bcrypt::hash("x", 6).unwrap()),
        ]);
        let auth = BasicAuth::new(&users).unwrap();
        assert_eq!(
            bcrypt::HashParts::from_str(auth.dummy())
                .unwrap()
                .get_cost(),
            5
        );
        // Shared across instances.
        assert_eq!(BasicAuth::new(&users).unwrap().dummy(), auth.dummy());
    }

    #[test]
    fn dummy_hash_refuses_costs_out_of_range() {
        // Checked before any hashing, so these return at once.
        for cost in [0, 3, MAX_BCRYPT_COST + 1, 31, 32, u32::MAX] {
            let err = dummy_hash(cost).unwrap_err();
            assert_eq!(err.key(), "basic_auth_users");
            assert!(
                err.message().contains(&format!("bcrypt cost {cost} ")),
                "{err}"
            );
        }
        assert!(check_cost(MIN_BCRYPT_COST).is_ok() && check_cost(MAX_BCRYPT_COST).is_ok());
        assert!(check_cost(31).unwrap_err().contains("41 hours"));
    }

    #[test]
    fn auth_02_unknown_users_cost_a_bcrypt() {
        // Users at cost 6 (a few ms): an unknown user must not answer much faster than a
        // known user with a wrong password (exporter-toolkit commit 021b5d3).
        let users = BTreeMap::from([("alice".to_string(), bcrypt::hash("pw", 6).unwrap())]);
        let auth = BasicAuth::new(&users).unwrap();
        let time = |h: &HeaderValue| {
            let t = Instant::now();
            assert!(!auth.check(Some(h)));
            t.elapsed()
        };
        // Alternating, so that a busy machine slows both alike; the fastest of
        // each, since being descheduled only ever adds time.
        let (alice, nobody) = (header("alice", "wrong"), header("nobody", "wrong"));
        let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
        for _ in 0..9 {
            known = known.min(time(&alice));
            unknown = unknown.min(time(&nobody));
        }
        assert!(
            unknown * 3 > known,
            "unknown user {unknown:?} vs known user {known:?}"
        );
    }

    #[test]
    fn auth_03_cache_key_is_unambiguous() {
        // exporter-toolkit TestByPassBasicAuthVuln (CVE-2022-46146), with its dummy.
        let users = users();
        let auth = with_known_dummy(&users);
        let alice_hash = &users["alice"];
        let dummy = auth.inner.dummy.clone();
        // Poison: unknown user "alice<hash>" with the dummy's password.
        assert!(!auth.check(Some(&header(&format!("alice{alice_hash}"), "fakepassword"))));
        // Then alice with "<dummy hash>fakepassword".
        assert!(!auth.check(Some(&header("alice", &format!("{dummy}fakepassword")))));
        // And the real password still works.
        assert!(auth.check(Some(&header("alice", "alice123"))));
        // Shifting bytes between fields never hits alice's cached entry.
        assert!(!auth.check(Some(&header("alic", "ealice123"))));
        assert!(!auth.check(Some(&header("alice1", "23"))));
    }

    #[test]
    fn auth_04_cache_size() {
        // exporter-toolkit TestCacheSize: 100 entries, then down to 90.
        let auth = BasicAuth::new(&users()).unwrap();
        let mut expected = 0;
        for i in 0..200u32 {
            let mut mac = [0u8; 32];
            mac[..4].copy_from_slice(&i.to_be_bytes());
            auth.inner.remember(mac);
            expected += 1;
            if expected > 100 {
                expected = 90;
            }
            assert_eq!(auth.cache_len(), expected, "after {i}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auth_04_concurrent_logins() {
        // exporter-toolkit TestBasicAuthCache: 150 good and 150 bad at once.
        let auth = BasicAuth::new(&users()).unwrap();
        let good = header("alice", "alice123");
        let bad = header("alice", "alice1234");
        assert!(auth.check_async(Some(&good)).await);
        assert!(!auth.check_async(Some(&bad)).await);
        let start = Arc::new(tokio::sync::Barrier::new(300));
        let mut tasks = Vec::new();
        for i in 0..300 {
            let (auth, start) = (auth.clone(), start.clone());
            let h = if i % 2 == 0 {
                good.clone()
            } else {
                bad.clone()
            };
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                auth.check_async(Some(&h)).await
            }));
        }
        let deadline = Duration::from_secs(60);
        let mut ok = 0;
        for t in tasks {
            if tokio::time::timeout(deadline, t).await.unwrap().unwrap() {
                ok += 1;
            }
        }
        assert_eq!(ok, 150);
        assert_eq!(auth.cache_len(), 1, "failures are not cached");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_logins_cannot_evict_good_ones() {
        let auth = BasicAuth::new(&users()).unwrap();
        let good = header("alice", "alice123");
        assert!(auth.check_async(Some(&good)).await);
        for i in 0..150 {
            assert!(
                !auth
                    .check_async(Some(&header("alice", &format!("guess{i}"))))
                    .await
            );
            assert!(
                !auth
                    .check_async(Some(&header(&format!("user{i}"), "x")))
                    .await
            );
        }
        assert_eq!(auth.cache_len(), 1);
        // Answered from the cache, without bcrypt: hold the only bcrypt slot meanwhile.
        let slot = auth
            .inner
            .bcrypt_slots
            .clone()
            .acquire_owned()
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), auth.check_async(Some(&good)));
        assert!(answer.await.expect("cached logins do not wait for bcrypt"));
        drop(slot);
    }

    #[test]
    fn auth_05_header_parsing() {
        let auth = BasicAuth::new(&users()).unwrap();
        let creds = b"alice:alice123";
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            assert!(auth.check(Some(&raw_header(scheme, creds))), "{scheme}");
        }
        // Extra spaces after the scheme are tolerated.
        let encoded = base64::engine::general_purpose::STANDARD.encode(creds);
        assert!(auth.check(Some(
            &HeaderValue::from_str(&format!("Basic   {encoded}")).unwrap()
        )));
        let rejected: Vec<HeaderValue> = vec![
            raw_header("Bearer", creds),
            raw_header("Basicx", creds),
            HeaderValue::from_str(&format!("Basic{encoded}")).unwrap(),
            HeaderValue::from_static("Basic"),
            HeaderValue::from_static("Basic "),
            HeaderValue::from_static(""),
            HeaderValue::from_static("Basic !!!!"),
            HeaderValue::from_static("Basic YWxpY2U6YWxpY2UxMjM"), // missing padding
            raw_header("Basic", b"alicealice123"),                 // no colon
            raw_header("Basic", b":alice123"),
            raw_header("Basic", b"alice\xff:alice123"), // not UTF-8
            raw_header("Basic", b"alice:alice123\xff"),
            raw_header("Basic", b"alice:alice123 "),
            raw_header("Basic", &[b'a'; 8192]),
            raw_header("Basic", &[b':'; 8192]),
            HeaderValue::from_bytes(b"Basic \x80\x81\xfe").unwrap(),
        ];
        for h in &rejected {
            assert!(!auth.check(Some(h)), "{h:?}");
        }
        // A long password: bcrypt looks at 72 bytes, like Go's.
        let long = format!("alice123{}", "x".repeat(8000));
        assert!(!auth.check(Some(&header("alice", &long))));
    }

    #[test]
    fn auth_06_hash_validation() {
        let check = |hash: &str| {
            let users = BTreeMap::from([("u".to_string(), hash.to_string())]);
            let err = BasicAuth::new(&users).unwrap_err();
            assert_eq!(err.key(), "basic_auth_users.u");
            err.message().to_string()
        };
        assert!(check("doe").contains("hashedSecret too short"));
        assert!(check("").contains("hashedSecret too short"));
        // 60 bytes with multi-byte UTF-8: the bcrypt 0.19.0-0.19.1 panic.
        let non_ascii = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDéx";
        assert_eq!(non_ascii.len(), 60);
        assert!(check(non_ascii).contains("non-ASCII"));
        let good = bcrypt::hash("x", 4).unwrap();
        assert!(check(&good.replacen("$2b$", "$3b$", 1)).contains("not a bcrypt hash"));
        assert!(check(&good.replacen("$04$", "$03$", 1)).contains("cost 3"));
        assert!(check(&good.replacen("$04$", "$32$", 1)).contains("cost 32"));
        assert!(check(&format!("{good}x")).contains("not a bcrypt hash"));
        let mut bad_b64 = good.clone();
        bad_b64.replace_range(10..11, "!");
        assert!(check(&bad_b64).contains("not a bcrypt hash"));
        // All the prefixes in use are accepted.
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let users = BTreeMap::from([("u".to_string(), good.replacen("$2b$", prefix, 1))]);
            BasicAuth::new(&users).unwrap();
        }
    }

    #[test]
    fn random_headers_never_panic() {
        use proptest::prelude::*;
        let auth = BasicAuth::new(&users()).unwrap();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 256,
            ..ProptestConfig::default()
        });
        runner
            .run(
                &(
                    any::<bool>(),
                    proptest::collection::vec(any::<u8>(), 0..200),
                ),
                |(encode, bytes)| {
                    let value = if encode {
                        raw_header("Basic", &bytes)
                    } else {
                        let mut v = b"Basic ".to_vec();
                        v.extend(bytes.iter().filter(|b| **b >= 0x20 && **b != 0x7f));
                        HeaderValue::from_bytes(&v).unwrap()
                    };
                    prop_assert!(!auth.check(Some(&value)));
                    Ok(())
                },
            )
            .unwrap();
    }
}
