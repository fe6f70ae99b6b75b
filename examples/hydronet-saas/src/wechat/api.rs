//! WeChat's server API, the part the channel needs: an access token per account
//! (`GET /cgi-bin/token`, cached until shortly before it expires) and customer-service
//! text messages (`POST /cgi-bin/message/custom/send`), used for answers that were not
//! ready within WeChat's five seconds.
//!
//! The base URL is configurable (`HYDRONET_WECHAT_API_BASE`) so tests use a local mock.
//! App secrets and access tokens go only into the requests; they are never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::account::Account;

/// Seconds before its stated expiry that a cached access token is renewed.
const RENEW_EARLY_SECS: i64 = 300;

/// WeChat's error codes for an access token that is invalid or expired.
const TOKEN_REJECTED: [i64; 3] = [40001, 40014, 42001];

/// Why a call to WeChat failed.
#[derive(Debug, thiserror::Error)]
pub enum WeChatApiError {
    /// The request did not complete.
    #[error("WeChat could not be reached: {0}")]
    Transport(#[from] reqwest::Error),
    /// WeChat answered with an error code.
    #[error("WeChat refused the call: errcode {code}")]
    Refused {
        /// WeChat's `errcode`.
        code: i64,
    },
}

#[derive(Debug, Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    expires_in: Option<i64>,
    errcode: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CallReply {
    errcode: Option<i64>,
}

/// A client of WeChat's server API with a cache of access tokens.
pub struct WeChatApi {
    http: reqwest::Client,
    base: String,
    /// Access token and its expiry (Unix seconds) by app id.
    tokens: Mutex<HashMap<String, (String, i64)>>,
}

impl std::fmt::Debug for WeChatApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChatApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl WeChatApi {
    /// A client of the API at `base` (no trailing slash).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.to_owned(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `content` to the WeChat user `openid` as a customer-service text message.
    /// A token WeChat rejects is dropped and the call tried once more with a new one.
    pub async fn send_text(
        &self,
        now: i64,
        account: &Account,
        openid: &str,
        content: &str,
    ) -> Result<(), WeChatApiError> {
        let body = json!({ "touser": openid, "msgtype": "text", "text": { "content": content } });
        let mut retried = false;
        loop {
            let token = self.access_token(now, account).await?;
            let url = format!("{}/cgi-bin/message/custom/send", self.base);
            let reply: CallReply = self
                .http
                .post(url)
                .query(&[("access_token", token.as_str())])
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            match reply.errcode.unwrap_or(0) {
                0 => return Ok(()),
                code if TOKEN_REJECTED.contains(&code) && !retried => {
                    self.forget(&account.app_id);
                    retried = true;
                }
                code => return Err(WeChatApiError::Refused { code }),
            }
        }
    }

    /// A valid access token of `account`, from the cache or fetched.
    async fn access_token(&self, now: i64, account: &Account) -> Result<String, WeChatApiError> {
        if let Some(token) = self.cached(now, &account.app_id) {
            return Ok(token);
        }
        let url = format!("{}/cgi-bin/token", self.base);
        let reply: TokenReply = self
            .http
            .get(url)
            .query(&[
                ("grant_type", "client_credential"),
                ("appid", account.app_id.as_str()),
                ("secret", account.app_secret.expose_secret()),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Some(token) = reply.access_token else {
            return Err(WeChatApiError::Refused {
                code: reply.errcode.unwrap_or(-1),
            });
        };
        let expires_at = now + reply.expires_in.unwrap_or(7200) - RENEW_EARLY_SECS;
        self.lock()
            .insert(account.app_id.clone(), (token.clone(), expires_at));
        Ok(token)
    }

    fn cached(&self, now: i64, app_id: &str) -> Option<String> {
        self.lock()
            .get(app_id)
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(token, _)| token.clone())
    }

    fn forget(&self, app_id: &str) {
        self.lock().remove(app_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i64)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}
