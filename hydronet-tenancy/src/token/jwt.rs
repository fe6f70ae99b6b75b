//! Signed access tokens: claims, keys, and the codec that issues and verifies them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hydronet_core::{
    Clock, Plan, Principal, SessionId, SystemClock, TenantContext, TenantId, UserId,
};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `typ` claim of an access token.
const ACCESS_TYPE: &str = "access";

/// The shortest HMAC secret [`JwtKey::hs256`] accepts: as long as the SHA-256 output.
const MIN_HMAC_SECRET: usize = 32;

/// The registered claims jsonwebtoken itself checks for presence. It ignores `iat` in this
/// list, which is why every claim is checked again after decoding ([`RawClaims`]).
const SPEC_CLAIMS: [&str; 6] = ["exp", "nbf", "iat", "iss", "aud", "sub"];

/// Claims of a HydroNet access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: who minted the token.
    pub iss: String,
    /// Audience: the API the token is meant for.
    pub aud: String,
    /// Subject: the user the token speaks for.
    pub sub: UserId,
    /// The tenant the user acts in.
    pub tid: TenantId,
    /// Token type; `"access"` for access tokens.
    pub typ: String,
    /// Expiry, in Unix seconds.
    pub exp: i64,
    /// Not valid before, in Unix seconds.
    pub nbf: i64,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Unique token id (UUID v7 text), for audit records and revocation lists.
    pub jti: String,
    /// The login session (refresh-token family) the token was minted from.
    pub sid: SessionId,
    /// Roles held inside the tenant.
    pub roles: Vec<String>,
    /// The tenant's plan when the token was issued.
    pub plan: Plan,
}

impl AccessClaims {
    /// The request context these claims establish: a user principal with its roles, plan,
    /// session and token id.
    pub fn to_context(&self) -> TenantContext {
        TenantContext::new(self.tid, Principal::User(self.sub), self.plan)
            .with_roles(self.roles.iter().cloned())
            .with_session(self.sid)
            .with_token_id(self.jti.clone())
    }

    /// [`to_context`](Self::to_context), moving the roles and token id instead of copying.
    pub fn into_context(self) -> TenantContext {
        TenantContext::new(self.tid, Principal::User(self.sub), self.plan)
            .with_roles(self.roles)
            .with_session(self.sid)
            .with_token_id(self.jti)
    }
}

/// What to put in a new access token.
#[derive(Debug, Clone, Copy)]
pub struct AccessGrant<'a> {
    /// The tenant the user acts in.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: UserId,
    /// The login session the token belongs to.
    pub session_id: SessionId,
    /// Roles held inside the tenant.
    pub roles: &'a [String],
    /// The tenant's current plan.
    pub plan: Plan,
}

/// A freshly signed access token.
#[derive(Clone)]
pub struct IssuedAccess {
    /// The compact JWT, for the client only; never log it.
    pub token: String,
    /// The claims inside [`token`](Self::token).
    pub claims: AccessClaims,
    /// Seconds until the token expires, for an OAuth-style `expires_in` field.
    pub expires_in: u64,
}

impl fmt::Debug for IssuedAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedAccess")
            .field("token", &"[redacted]")
            .field("claims", &self.claims)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a token could not be issued or was refused.
///
/// The variant is for logs and tests; callers answer every verification failure with the
/// same 401 so that clients learn nothing about which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a compact JWT: wrong number of parts, bad base64, bad JSON or mistyped claims.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The header has no `kid`, or names a key this codec does not have.
    #[error("the token names no configured key")]
    UnknownKey,
    /// The header's `alg` is outside the allowlist (HS256, EdDSA) or differs from the
    /// algorithm of the key named by `kid`.
    #[error("the token's algorithm is not allowed for its key")]
    AlgorithmNotAllowed,
    /// The signature does not match the header and payload.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// The token's `nbf` or `iat` lies in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The `iss` claim is not the configured issuer.
    #[error("the token was issued by someone else")]
    WrongIssuer,
    /// The `aud` claim is not the configured audience.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// The `typ` claim is not `"access"`.
    #[error("the token is not an access token")]
    WrongType,
    /// A required claim is absent.
    #[error("the token lacks a required claim")]
    MissingClaim,
    /// An HMAC secret shorter than 32 bytes.
    #[error("the HMAC secret is shorter than 32 bytes")]
    WeakKey,
    /// Key material that cannot be parsed, a private key that does not match its public
    /// key, or a verify-only key asked to sign.
    #[error("the key is invalid or cannot sign")]
    InvalidKey,
    /// The signing operation itself failed.
    #[error("signing the token failed")]
    Signing,
}

impl TokenError {
    /// Translates a jsonwebtoken failure into the variant that says why.
    fn from_jwt(err: &jsonwebtoken::errors::Error) -> Self {
        match err.kind() {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName => Self::AlgorithmNotAllowed,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => {
                tracing::debug!(claim = %claim, "access token lacks a required claim");
                Self::MissingClaim
            }
            ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_) => Self::InvalidKey,
            ErrorKind::Signing(_) | ErrorKind::RsaFailedSigning | ErrorKind::Provider(_) => {
                Self::Signing
            }
            _ => Self::Malformed,
        }
    }
}

/// A signing/verifying key with its `kid`.
///
/// Its `Debug` output shows the `kid` and the algorithm, never key material.
#[derive(Clone)]
pub struct JwtKey {
    kid: String,
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
}

impl JwtKey {
    /// An HS256 key from a shared secret.
    ///
    /// Returns [`TokenError::WeakKey`] when the secret is shorter than 32 bytes.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, TokenError> {
        if secret.len() < MIN_HMAC_SECRET {
            return Err(TokenError::WeakKey);
        }

        let encoding = EncodingKey::from_secret(secret).map_err(|_| TokenError::InvalidKey)?;
        let decoding = DecodingKey::from_secret(secret).map_err(|_| TokenError::InvalidKey)?;
        Ok(Self {
            kid: kid.into(),
            algorithm: Algorithm::HS256,
            encoding: Some(encoding),
            decoding,
        })
    }

    /// An EdDSA (Ed25519) key from PEM.
    ///
    /// `public_pem` is a `PUBLIC KEY` (SPKI) block. `private_pem`, a PKCS#8 `PRIVATE KEY`
    /// block, is optional: without it the key only verifies. When given, it must belong to
    /// `public_pem`, which is checked by signing and verifying a probe message. Any failure
    /// is [`TokenError::InvalidKey`].
    pub fn ed25519_pem(
        kid: impl Into<String>,
        private_pem: Option<&[u8]>,
        public_pem: &[u8],
    ) -> Result<Self, TokenError> {
        let decoding = DecodingKey::from_ed_pem(public_pem).map_err(|_| TokenError::InvalidKey)?;
        let encoding = private_pem
            .map(|pem| ed25519_signing_half(pem, &decoding))
            .transpose()?;

        Ok(Self {
            kid: kid.into(),
            algorithm: Algorithm::EdDSA,
            encoding,
            decoding,
        })
    }

    /// The key id carried in the `kid` header of tokens this key signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Parses an Ed25519 private key and proves it belongs to `public`.
fn ed25519_signing_half(pem: &[u8], public: &DecodingKey) -> Result<EncodingKey, TokenError> {
    const PROBE: &[u8] = b"hydronet key pair probe";

    let private = EncodingKey::from_ed_pem(pem).map_err(|_| TokenError::InvalidKey)?;
    let signature = jsonwebtoken::crypto::sign(PROBE, &private, Algorithm::EdDSA)
        .map_err(|_| TokenError::InvalidKey)?;

    match jsonwebtoken::crypto::verify(&signature, PROBE, public, Algorithm::EdDSA) {
        Ok(true) => Ok(private),
        _ => Err(TokenError::InvalidKey),
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("can_sign", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

/// A key this codec verifies with, and the jsonwebtoken rules for its algorithm.
struct VerifyingKey {
    key: JwtKey,
    validation: Validation,
}

/// The shared, immutable state of a [`JwtCodec`].
struct Inner {
    signing_key: JwtKey,
    keys: HashMap<String, VerifyingKey>,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    leeway: i64,
    clock: Arc<dyn Clock>,
}

/// Issues and verifies HydroNet access tokens.
///
/// Cloning is cheap (one reference count). `Debug` shows the configuration and key ids,
/// never key material. See the [module docs](super) for the checks `verify_access` makes.
#[derive(Clone)]
pub struct JwtCodec {
    inner: Arc<Inner>,
}

/// Configures a [`JwtCodec`]; made by [`JwtCodec::builder`].
#[derive(Debug)]
pub struct JwtCodecBuilder {
    signing_key: JwtKey,
    verify_keys: Vec<JwtKey>,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    leeway: u64,
    clock: Arc<dyn Clock>,
}

impl JwtCodecBuilder {
    /// Adds a key that still verifies tokens but no longer signs them, so tokens signed
    /// before a key rotation stay valid until they expire. May be called several times.
    ///
    /// When two keys share a `kid`, the signing key wins over verify keys, and a later
    /// verify key over an earlier one; a warning is logged.
    pub fn verify_key(mut self, key: JwtKey) -> Self {
        self.verify_keys.push(key);
        self
    }

    /// The `iss` claim issued and required. Defaults to `"hydronet"`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = iss.into();
        self
    }

    /// The `aud` claim issued and required. Defaults to `"hydronet-api"`.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = aud.into();
        self
    }

    /// How long access tokens live, in whole seconds (any fraction is dropped).
    /// Defaults to 15 minutes.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Clock skew tolerated when checking `exp`, `nbf` and `iat`, in seconds.
    /// Defaults to 5.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// The source of time for issuing and checking tokens. Defaults to [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the codec.
    pub fn build(self) -> JwtCodec {
        let mut keys = HashMap::new();
        let all_keys = self
            .verify_keys
            .into_iter()
            .chain([self.signing_key.clone()]);

        for key in all_keys {
            if keys.contains_key(&key.kid) {
                tracing::warn!(kid = %key.kid, "two JWT keys share a kid; the later one is used");
            }

            let validation = validation_for(key.algorithm, &self.issuer, &self.audience);
            keys.insert(key.kid.clone(), VerifyingKey { key, validation });
        }

        JwtCodec {
            inner: Arc::new(Inner {
                signing_key: self.signing_key,
                keys,
                issuer: self.issuer,
                audience: self.audience,
                access_ttl: self.access_ttl,
                leeway: i64::try_from(self.leeway).unwrap_or(i64::MAX),
                clock: self.clock,
            }),
        }
    }
}

/// The jsonwebtoken rules for one algorithm: signature, presence of the registered claims,
/// exact issuer and audience. Time is checked by the codec against its own clock.
fn validation_for(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&SPEC_CLAIMS);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_aud = true;

    // jsonwebtoken reads the system time; exp and nbf are checked in `check_claims` instead.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation
}

impl JwtCodec {
    /// Starts configuring a codec that signs with `signing_key` (which also verifies).
    pub fn builder(signing_key: JwtKey) -> JwtCodecBuilder {
        JwtCodecBuilder {
            signing_key,
            verify_keys: Vec::new(),
            issuer: "hydronet".to_owned(),
            audience: "hydronet-api".to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            leeway: 5,
            clock: Arc::new(SystemClock),
        }
    }

    /// Signs a fresh access token.
    ///
    /// `iat` and `nbf` are the clock's current time, `exp` is that plus the access TTL,
    /// `jti` is a new UUID v7 and `typ` is `"access"`. The header names the signing key's
    /// `kid` and algorithm. A verify-only signing key gives [`TokenError::InvalidKey`].
    pub fn issue_access(&self, grant: &AccessGrant<'_>) -> Result<IssuedAccess, TokenError> {
        let inner = &self.inner;
        let encoding = inner
            .signing_key
            .encoding
            .as_ref()
            .ok_or(TokenError::InvalidKey)?;
        let claims = self.claims_for(grant);

        let mut header = Header::new(inner.signing_key.algorithm);
        header.kid = Some(inner.signing_key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, encoding).map_err(|err| {
            let kid = &inner.signing_key.kid;
            tracing::error!(kid = %kid, error = %err, "signing an access token failed");
            TokenError::from_jwt(&err)
        })?;

        Ok(IssuedAccess {
            token,
            claims,
            expires_in: inner.access_ttl.as_secs(),
        })
    }

    /// The claims of a new token for `grant`, stamped with the current time.
    fn claims_for(&self, grant: &AccessGrant<'_>) -> AccessClaims {
        let now = self.inner.clock.now_secs();
        let ttl = i64::try_from(self.inner.access_ttl.as_secs()).unwrap_or(i64::MAX);

        AccessClaims {
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
            sub: grant.user_id,
            tid: grant.tenant_id,
            typ: ACCESS_TYPE.to_owned(),
            exp: now.saturating_add(ttl),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::now_v7().to_string(),
            sid: grant.session_id,
            roles: grant.roles.to_vec(),
            plan: grant.plan,
        }
    }

    /// Verifies an access token and returns its claims.
    ///
    /// The header must name a configured key with `kid` and that key's algorithm with
    /// `alg`; the signature is checked before any claim is read; then every claim must be
    /// present, `iss` and `aud` must match, `typ` must be `"access"`, and `exp`, `nbf` and
    /// `iat` must hold against the codec's clock within the leeway. The error says which
    /// check failed. Rejections are left to the caller to log; only the name of a missing
    /// claim is logged here, at DEBUG.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let (algorithm, kid) = peek_header(token)?;
        let verifying = self.key_for(algorithm, &kid)?;

        // One pass over the payload, straight into typed fields: absent or null claims
        // are told apart from mistyped ones without an intermediate map.
        let payload = jsonwebtoken::decode::<RawClaims>(
            token,
            &verifying.key.decoding,
            &verifying.validation,
        )
        .map_err(|err| TokenError::from_jwt(&err))?
        .claims;

        let claims = payload.into_claims()?;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    /// The configured key named `kid`, provided it uses `algorithm`.
    fn key_for(&self, algorithm: Algorithm, kid: &str) -> Result<&VerifyingKey, TokenError> {
        let verifying = self.inner.keys.get(kid).ok_or(TokenError::UnknownKey)?;

        if verifying.key.algorithm != algorithm {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        Ok(verifying)
    }

    /// The checks jsonwebtoken does not make: token type, and time against our clock.
    fn check_claims(&self, claims: &AccessClaims) -> Result<(), TokenError> {
        if claims.typ != ACCESS_TYPE {
            return Err(TokenError::WrongType);
        }

        let now = self.inner.clock.now_secs();
        let leeway = self.inner.leeway;

        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) || claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// The codec's clock, in Unix seconds.
    pub(crate) fn now_secs(&self) -> i64 {
        self.inner.clock.now_secs()
    }

    /// How long newly issued access tokens live.
    pub fn access_ttl(&self) -> Duration {
        self.inner.access_ttl
    }
}

impl fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut kids: Vec<&str> = inner.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();

        f.debug_struct("JwtCodec")
            .field("signing_kid", &inner.signing_key.kid)
            .field("verifying_kids", &kids)
            .field("issuer", &inner.issuer)
            .field("audience", &inner.audience)
            .field("access_ttl", &inner.access_ttl)
            .field("leeway", &inner.leeway)
            .field("clock", &inner.clock)
            .finish()
    }
}

/// The part of a JOSE header read before any key is chosen. `alg` is a plain string so
/// that values jsonwebtoken cannot represent, such as `none`, are refused as algorithms
/// rather than as malformed JSON.
#[derive(Deserialize)]
struct PeekedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Reads `alg` and `kid` from an unverified token, refusing any algorithm outside the
/// allowlist and any token without a `kid`.
fn peek_header(token: &str) -> Result<(Algorithm, String), TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };

    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: PeekedHeader = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;

    let algorithm = match header.alg.as_str() {
        "HS256" => Algorithm::HS256,
        "EdDSA" => Algorithm::EdDSA,
        _ => return Err(TokenError::AlgorithmNotAllowed),
    };
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    Ok((algorithm, kid))
}

/// A verified payload as it came: every claim optional, so an absent (or null) claim is
/// [`TokenError::MissingClaim`] and a mistyped one [`TokenError::Malformed`].
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    aud: Option<String>,
    sub: Option<UserId>,
    tid: Option<TenantId>,
    typ: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    sid: Option<SessionId>,
    roles: Option<Vec<String>>,
    plan: Option<Plan>,
}

impl RawClaims {
    fn into_claims(self) -> Result<AccessClaims, TokenError> {
        let missing = |claim: &'static str| {
            tracing::debug!(claim, "access token lacks a required claim");
            TokenError::MissingClaim
        };
        Ok(AccessClaims {
            iss: self.iss.ok_or_else(|| missing("iss"))?,
            aud: self.aud.ok_or_else(|| missing("aud"))?,
            sub: self.sub.ok_or_else(|| missing("sub"))?,
            tid: self.tid.ok_or_else(|| missing("tid"))?,
            typ: self.typ.ok_or_else(|| missing("typ"))?,
            exp: self.exp.ok_or_else(|| missing("exp"))?,
            nbf: self.nbf.ok_or_else(|| missing("nbf"))?,
            iat: self.iat.ok_or_else(|| missing("iat"))?,
            jti: self.jti.ok_or_else(|| missing("jti"))?,
            sid: self.sid.ok_or_else(|| missing("sid"))?,
            roles: self.roles.ok_or_else(|| missing("roles"))?,
            plan: self.plan.ok_or_else(|| missing("plan"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use hydronet_core::ManualClock;
    use serde_json::{Value, json};

    use super::*;

    /// A 32-byte HMAC secret, the shortest accepted.
    const SECRET: &[u8] = b"test-only secret, 32 bytes long!";
    const FOREIGN_SECRET: &[u8] = b"someone else's secret, 32 bytes!";
    const T0: i64 = 1_700_000_000;

    // TEST-ONLY Ed25519 key pairs, generated with `openssl genpkey -algorithm ed25519` for
    // these tests. They protect nothing; never use them outside this module.
    const TEST_ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIF2jAI/sapQNdWNLFMW5dC0MRBsB2NvOi5VbtQPpLgBJ
-----END PRIVATE KEY-----
";
    const TEST_ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEANm5Y6Adnw4QhICXG0LShJ2l7r7KYTh11oLqp/zPZNSk=
-----END PUBLIC KEY-----
";
    /// The public half of a second, unrelated test-only pair.
    const OTHER_ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEARr6rRpUpS/gShMno9YAs/zgjnt6TcW2+QEMP5cI4+rQ=
-----END PUBLIC KEY-----
";

    fn hs_key(kid: &str, secret: &[u8]) -> JwtKey {
        JwtKey::hs256(kid, secret).unwrap()
    }

    fn ed_key(kid: &str) -> JwtKey {
        let private = Some(TEST_ED25519_PRIVATE.as_bytes());
        JwtKey::ed25519_pem(kid, private, TEST_ED25519_PUBLIC.as_bytes()).unwrap()
    }

    fn ed_verify_only(kid: &str) -> JwtKey {
        JwtKey::ed25519_pem(kid, None, TEST_ED25519_PUBLIC.as_bytes()).unwrap()
    }

    /// A codec signing with HS256 `k1` that also verifies EdDSA `ed1`, on a manual clock.
    fn codec(clock: &ManualClock) -> JwtCodec {
        JwtCodec::builder(hs_key("k1", SECRET))
            .verify_key(ed_verify_only("ed1"))
            .clock(Arc::new(clock.clone()))
            .build()
    }

    fn issue(codec: &JwtCodec) -> IssuedAccess {
        let roles = ["member".to_owned(), "billing".to_owned()];
        let grant = AccessGrant {
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            session_id: SessionId::new(),
            roles: &roles,
            plan: Plan::Pro,
        };
        codec.issue_access(&grant).unwrap()
    }

    /// A complete, valid payload for a token issued at `now`.
    fn payload(now: i64) -> Value {
        json!({
            "iss": "hydronet",
            "aud": "hydronet-api",
            "sub": UserId::new(),
            "tid": TenantId::new(),
            "typ": "access",
            "exp": now + 900,
            "nbf": now,
            "iat": now,
            "jti": uuid::Uuid::now_v7().to_string(),
            "sid": SessionId::new(),
            "roles": ["member"],
            "plan": "free",
        })
    }

    fn with(mut payload: Value, claim: &str, value: Value) -> Value {
        payload[claim] = value;
        payload
    }

    fn without(mut payload: Value, claim: &str) -> Value {
        payload.as_object_mut().unwrap().remove(claim);
        payload
    }

    fn header(alg: Algorithm, kid: Option<&str>) -> Header {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        header
    }

    /// Signs `payload` with HMAC-SHA256 under `secret`, whatever key `kid` names.
    fn sign_hs(kid: Option<&str>, secret: &[u8], payload: &Value) -> String {
        let key = EncodingKey::from_secret(secret).unwrap();
        jsonwebtoken::encode(&header(Algorithm::HS256, kid), payload, &key).unwrap()
    }

    /// Signs `payload` with the test Ed25519 private key.
    fn sign_ed(kid: Option<&str>, payload: &Value) -> String {
        let key = EncodingKey::from_ed_pem(TEST_ED25519_PRIVATE.as_bytes()).unwrap();
        jsonwebtoken::encode(&header(Algorithm::EdDSA, kid), payload, &key).unwrap()
    }

    fn b64(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Replaces the payload of a signed token, keeping its header and signature.
    fn tamper(token: &str, change: impl FnOnce(&mut Value)) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        change(&mut claims);
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2])
    }

    /// The raw 32-byte Ed25519 public key, as an attacker would find it in a JWKS.
    fn ed_public_raw() -> Vec<u8> {
        let body: String = TEST_ED25519_PUBLIC
            .lines()
            .filter(|l| !l.starts_with("---"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        der[der.len() - 32..].to_vec()
    }

    #[test]
    fn the_token_table_rejects_every_forged_or_invalid_token() {
        let clock = ManualClock::at_secs(T0);
        let codec = codec(&clock);

        // Issued now, presented after ttl + leeway has passed.
        let expired = issue(&codec).token;
        clock.advance_secs(15 * 60 + 5);
        let now = clock.now_secs();

        // Controls: the fixtures below make tokens that would pass if left alone.
        let good = payload(now);
        let valid = issue(&codec).token;
        assert!(
            codec
                .verify_access(&sign_hs(Some("k1"), SECRET, &good))
                .is_ok()
        );
        assert!(codec.verify_access(&sign_ed(Some("ed1"), &good)).is_ok());
        assert!(codec.verify_access(&valid).is_ok());

        // Correctly signed with k1, with one claim changed or removed.
        let set = |claim: &str, value: Value| {
            sign_hs(Some("k1"), SECRET, &with(good.clone(), claim, value))
        };
        let unset = |claim: &str| sign_hs(Some("k1"), SECRET, &without(good.clone(), claim));
        let unsigned =
            |header: Value, signature: &str| format!("{}.{}.{signature}", b64(&header), b64(&good));

        let none = json!({"alg": "none", "typ": "JWT", "kid": "k1"});
        let rs256 = json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
        let valid_signature = valid.rsplit('.').next().unwrap();
        let hs512_key = EncodingKey::from_secret(SECRET).unwrap();
        let hs512 =
            jsonwebtoken::encode(&header(Algorithm::HS512, Some("k1")), &good, &hs512_key).unwrap();
        let ed_pem_secret = TEST_ED25519_PUBLIC.as_bytes();
        let ed_eddsa = sign_ed(Some("ed1"), &good);
        let opaque = crate::token::OpaqueToken::generate("hnr_").into_secret();

        use TokenError::*;
        let table: Vec<(&str, String, TokenError)> = vec![
            ("alg none", unsigned(none.clone(), ""), AlgorithmNotAllowed),
            (
                "alg none, copied signature",
                unsigned(none, valid_signature),
                AlgorithmNotAllowed,
            ),
            ("alg RS256", unsigned(rs256, "c2ln"), AlgorithmNotAllowed),
            ("HS512 with the right secret", hs512, AlgorithmNotAllowed),
            (
                "foreign secret, our kid",
                sign_hs(Some("k1"), FOREIGN_SECRET, &good),
                BadSignature,
            ),
            (
                "tampered tid",
                tamper(&valid, |c| c["tid"] = json!(TenantId::new())),
                BadSignature,
            ),
            (
                "tampered roles",
                tamper(&valid, |c| c["roles"] = json!(["owner"])),
                BadSignature,
            ),
            (
                "tampered EdDSA",
                tamper(&ed_eddsa, |c| c["plan"] = json!("pro")),
                BadSignature,
            ),
            ("expired", expired, Expired),
            (
                "expired, signed by hand",
                set("exp", json!(now - 5)),
                Expired,
            ),
            (
                "nbf in the future",
                set("nbf", json!(now + 60)),
                NotYetValid,
            ),
            (
                "iat in the future",
                set("iat", json!(now + 60)),
                NotYetValid,
            ),
            ("wrong iss", set("iss", json!("evil")), WrongIssuer),
            ("wrong aud", set("aud", json!("other-api")), WrongAudience),
            (
                "aud as an array",
                set("aud", json!(["hydronet-api"])),
                Malformed,
            ),
            ("typ refresh", set("typ", json!("refresh")), WrongType),
            ("missing kid", sign_hs(None, SECRET, &good), UnknownKey),
            (
                "unknown kid",
                sign_hs(Some("k9"), SECRET, &good),
                UnknownKey,
            ),
            ("missing exp", unset("exp"), MissingClaim),
            ("missing nbf", unset("nbf"), MissingClaim),
            ("missing iat", unset("iat"), MissingClaim),
            ("missing sub", unset("sub"), MissingClaim),
            ("missing iss", unset("iss"), MissingClaim),
            ("missing aud", unset("aud"), MissingClaim),
            ("missing tid", unset("tid"), MissingClaim),
            ("null sid", set("sid", Value::Null), MissingClaim),
            ("exp as a string", set("exp", json!("tomorrow")), Malformed),
            ("tid not a uuid", set("tid", json!("acme")), Malformed),
            (
                "HS256 on the EdDSA kid, PEM public key as secret",
                sign_hs(Some("ed1"), ed_pem_secret, &good),
                AlgorithmNotAllowed,
            ),
            (
                "HS256 on the EdDSA kid, raw public key as secret",
                sign_hs(Some("ed1"), &ed_public_raw(), &good),
                AlgorithmNotAllowed,
            ),
            (
                "EdDSA on the HS256 kid",
                sign_ed(Some("k1"), &good),
                AlgorithmNotAllowed,
            ),
            ("garbage", "not a token".to_owned(), Malformed),
            ("empty", String::new(), Malformed),
            ("three empty parts", "..".to_owned(), Malformed),
            ("four parts", format!("{valid}.extra"), Malformed),
            (
                "header not base64",
                format!("!!!.{}.", b64(&good)),
                Malformed,
            ),
            ("opaque refresh token", opaque, Malformed),
        ];

        for (name, token, expected) in table {
            assert_eq!(codec.verify_access(&token), Err(expected), "row: {name}");
        }
    }

    #[test]
    fn issue_and_verify_round_trip_all_claims() {
        let clock = ManualClock::at_secs(T0);
        let codec = codec(&clock);
        let roles = ["owner".to_owned()];
        let grant = AccessGrant {
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            session_id: SessionId::new(),
            roles: &roles,
            plan: Plan::Enterprise,
        };

        let issued = codec.issue_access(&grant).unwrap();
        let claims = codec.verify_access(&issued.token).unwrap();

        assert_eq!(claims, issued.claims);
        assert_eq!(claims.iss, "hydronet");
        assert_eq!(claims.aud, "hydronet-api");
        assert_eq!(
            (claims.sub, claims.tid, claims.sid),
            (grant.user_id, grant.tenant_id, grant.session_id)
        );
        assert_eq!(claims.typ, "access");
        assert_eq!((claims.iat, claims.nbf, claims.exp), (T0, T0, T0 + 900));
        assert_eq!(claims.roles, roles);
        assert_eq!(claims.plan, Plan::Enterprise);
        assert_eq!(
            uuid::Uuid::parse_str(&claims.jti)
                .unwrap()
                .get_version_num(),
            7
        );
        assert_eq!(issued.expires_in, 900);
        assert_eq!(codec.access_ttl(), Duration::from_secs(900));

        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (Algorithm::HS256, Some("k1"))
        );
    }

    #[test]
    fn every_token_gets_its_own_jti() {
        let codec = codec(&ManualClock::at_secs(T0));
        assert_ne!(issue(&codec).claims.jti, issue(&codec).claims.jti);
    }

    #[test]
    fn expiry_honours_the_leeway_exactly() {
        let clock = ManualClock::at_secs(T0);
        let codec = codec(&clock);
        let token = issue(&codec).token;

        clock.advance_secs(900 + 4);
        assert!(codec.verify_access(&token).is_ok());

        clock.advance_secs(1);
        assert_eq!(codec.verify_access(&token), Err(TokenError::Expired));
    }

    #[test]
    fn small_clock_skew_is_tolerated() {
        let clock = ManualClock::at_secs(T0);
        let codec = codec(&clock);
        let early = with(payload(T0 + 5), "exp", json!(T0 + 905));

        assert!(
            codec
                .verify_access(&sign_hs(Some("k1"), SECRET, &early))
                .is_ok()
        );
    }

    #[test]
    fn custom_settings_are_issued_and_required() {
        let clock = ManualClock::at_secs(T0);
        let custom = JwtCodec::builder(hs_key("k1", SECRET))
            .issuer("https://auth.example.com")
            .audience("billing")
            .access_ttl(Duration::from_secs(60))
            .leeway(0)
            .clock(Arc::new(clock.clone()))
            .build();

        let issued = issue(&custom);
        assert_eq!(
            (issued.claims.iss.as_str(), issued.claims.aud.as_str()),
            ("https://auth.example.com", "billing")
        );
        assert_eq!(issued.claims.exp, T0 + 60);
        assert!(custom.verify_access(&issued.token).is_ok());
        assert_eq!(
            codec(&clock).verify_access(&issued.token),
            Err(TokenError::WrongIssuer)
        );

        clock.advance_secs(60);
        assert_eq!(
            custom.verify_access(&issued.token),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn rotated_keys_keep_verifying() {
        let clock = Arc::new(ManualClock::at_secs(T0));
        let old = JwtCodec::builder(hs_key("k1", SECRET))
            .clock(clock.clone())
            .build();
        let rotated = JwtCodec::builder(hs_key("k2", FOREIGN_SECRET))
            .verify_key(hs_key("k1", SECRET))
            .clock(clock.clone())
            .build();
        let forgetful = JwtCodec::builder(hs_key("k2", FOREIGN_SECRET))
            .clock(clock)
            .build();

        let old_token = issue(&old).token;
        let new_token = issue(&rotated).token;

        assert!(rotated.verify_access(&old_token).is_ok());
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some("k2")
        );
        assert_eq!(
            forgetful.verify_access(&old_token),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(old.verify_access(&new_token), Err(TokenError::UnknownKey));
    }

    #[test]
    fn signing_key_wins_over_a_verify_key_with_the_same_kid() {
        let clock = Arc::new(ManualClock::at_secs(T0));
        let codec = JwtCodec::builder(hs_key("k1", SECRET))
            .verify_key(hs_key("k1", FOREIGN_SECRET))
            .clock(clock)
            .build();

        assert!(codec.verify_access(&issue(&codec).token).is_ok());
    }

    #[test]
    fn eddsa_round_trip() {
        let clock = Arc::new(ManualClock::at_secs(T0));
        let signer = JwtCodec::builder(ed_key("ed1"))
            .clock(clock.clone())
            .build();
        let verifier = JwtCodec::builder(hs_key("k1", SECRET))
            .verify_key(ed_verify_only("ed1"))
            .clock(clock)
            .build();

        let issued = issue(&signer);
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();

        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (Algorithm::EdDSA, Some("ed1"))
        );
        assert_eq!(signer.verify_access(&issued.token).unwrap(), issued.claims);
        assert_eq!(
            verifier.verify_access(&issued.token).unwrap(),
            issued.claims
        );
    }

    #[test]
    fn a_verify_only_key_cannot_sign() {
        let codec = JwtCodec::builder(ed_verify_only("ed1")).build();
        let roles = Vec::new();
        let grant = AccessGrant {
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            session_id: SessionId::new(),
            roles: &roles,
            plan: Plan::Free,
        };

        assert_eq!(
            codec.issue_access(&grant).unwrap_err(),
            TokenError::InvalidKey
        );
    }

    #[test]
    fn hmac_secrets_must_be_32_bytes() {
        assert_eq!(
            JwtKey::hs256("k", b"0123456789").unwrap_err(),
            TokenError::WeakKey
        );
        assert_eq!(
            JwtKey::hs256("k", &SECRET[..31]).unwrap_err(),
            TokenError::WeakKey
        );
        assert_eq!(JwtKey::hs256("k", SECRET).unwrap().kid(), "k");
    }

    #[test]
    fn bad_ed25519_keys_are_refused() {
        let private = Some(TEST_ED25519_PRIVATE.as_bytes());
        let public = TEST_ED25519_PUBLIC.as_bytes();
        let other = OTHER_ED25519_PUBLIC.as_bytes();

        let mismatched = JwtKey::ed25519_pem("ed", private, other);
        let swapped = JwtKey::ed25519_pem("ed", Some(public), public);
        let garbage = JwtKey::ed25519_pem("ed", None, b"not a pem");

        assert_eq!(mismatched.unwrap_err(), TokenError::InvalidKey);
        assert_eq!(swapped.unwrap_err(), TokenError::InvalidKey);
        assert_eq!(garbage.unwrap_err(), TokenError::InvalidKey);
        assert_eq!(ed_key("ed1").kid(), "ed1");
    }

    #[test]
    fn debug_output_hides_secrets_and_tokens() {
        let key = hs_key("k1", SECRET);
        let codec = JwtCodec::builder(key.clone())
            .verify_key(ed_key("ed1"))
            .build();
        let issued = issue(&codec);
        let secret = std::str::from_utf8(SECRET).unwrap();

        let printed = format!("{key:?} {codec:?} {issued:?} {:?}", ed_key("ed1"));

        assert!(
            printed.contains("k1") && printed.contains("ed1"),
            "{printed}"
        );
        assert!(!printed.contains(secret), "{printed}");
        assert!(!printed.contains(&issued.token), "{printed}");
        assert!(!printed.contains("MC4CAQAw"), "{printed}");
    }

    #[test]
    fn claims_become_a_tenant_context() {
        let issued = issue(&codec(&ManualClock::at_secs(T0)));
        let claims = issued.claims;

        let ctx = claims.to_context();

        assert_eq!(ctx.tenant_id(), claims.tid);
        assert_eq!(ctx.principal(), Principal::User(claims.sub));
        assert_eq!(ctx.roles(), ["member", "billing"]);
        assert_eq!(ctx.plan(), Plan::Pro);
        assert_eq!(ctx.session_id(), Some(claims.sid));
        assert_eq!(ctx.token_id(), Some(claims.jti.as_str()));
    }
}
