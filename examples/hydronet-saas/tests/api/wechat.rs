//! The WeChat channel end to end: settings, signatures, plain and encrypted messages,
//! retries, the slow path through the customer-service API, and what never leaks.
//!
//! Signatures here are computed with the `sha1` crate, and the AES envelope is built and
//! opened by hand with aws-lc-rs, independently of the server's own code; the fixed
//! vectors were computed with Python's hashlib.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Method, Request, StatusCode};
use hydronet_core::{Clock, Plan};
use hydronet_llm::{
    BoxFuture, ChatModel, ChatRequest, ChatResponse, ChatStream, LlmError, ScriptedModel,
};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::helpers::{Reply, TestApp};

const APP_ID: &str = "wx5f3a9c0d1e2b4a67";
const TOKEN: &str = "riverbend42";
const APP_SECRET: &str = "app-secret-7f4e2d9c1b0a5e3f";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OPENID: &str = "oUser-alice-0001";

/// A model that answers from a script after a delay.
struct SlowModel {
    inner: ScriptedModel,
    delay: Duration,
}

impl ChatModel for SlowModel {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.inner.complete(request).await
        })
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        self.inner.stream(request)
    }
}

/// An application with one tenant whose WeChat account is configured.
struct Wx {
    app: TestApp,
    model: ScriptedModel,
    owner: String,
    tenant: String,
    slug: String,
}

async fn setup_with(extra: &[(&str, &str)], delay: Duration) -> Wx {
    let model = ScriptedModel::new();
    let slow = SlowModel {
        inner: model.clone(),
        delay,
    };
    let app = TestApp::with_env_and_model(extra, Arc::new(slow)).await;
    let reply = app
        .register("owner@riverbend.example", "River Bend Water")
        .await;
    let owner = reply.token();
    let tenant = reply.body["tenant"]["id"].as_str().unwrap().to_owned();
    let slug = reply.body["tenant"]["slug"].as_str().unwrap().to_owned();
    let saved = app
        .put(
            "/api/tenant/wechat",
            json!({
                "app_id": APP_ID,
                "token": TOKEN,
                "app_secret": APP_SECRET,
                "encoding_aes_key": AES_KEY,
                "enabled": true,
            }),
            Some(&owner),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    Wx {
        app,
        model,
        owner,
        tenant,
        slug,
    }
}

async fn setup() -> Wx {
    setup_with(&[], Duration::ZERO).await
}

fn sha1_hex(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let digest = Sha1::digest(sorted.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn text_message(from: &str, msg_id: u64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_riverbend]]></ToUserName>\
         <FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>"
    )
}

/// A field of a reply's XML (CDATA or plain).
fn field(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml.find(&format!("</{name}>"))?;
    let value = &xml[start..end];
    Some(
        value
            .strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(value)
            .to_owned(),
    )
}

impl Wx {
    fn now(&self) -> String {
        self.app.clock.now_secs().to_string()
    }

    async fn post_raw(&self, query: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/wechat/{}?{query}", self.slug))
            .header("content-type", "text/xml")
            .body(body.into())
            .unwrap();
        self.app.send(request).await
    }

    /// A plain-mode delivery, signed with the current time.
    async fn deliver(&self, xml: &str) -> Reply {
        let (ts, nonce) = (self.now(), "n0nce");
        let signature = sha1_hex(&[TOKEN, &ts, nonce]);
        self.post_raw(
            &format!("signature={signature}&timestamp={ts}&nonce={nonce}"),
            xml.to_owned(),
        )
        .await
    }

    /// An encrypted-mode delivery of `encrypt`, signed.
    async fn deliver_encrypted(&self, encrypt: &str) -> Reply {
        let (ts, nonce) = (self.now(), "s3cret-nonce");
        let signature = sha1_hex(&[TOKEN, &ts, nonce]);
        let msg_signature = sha1_hex(&[TOKEN, &ts, nonce, encrypt]);
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_riverbend]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        );
        self.post_raw(
            &format!(
                "signature={signature}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_signature}"
            ),
            body,
        )
        .await
    }

    fn text(reply: &Reply) -> String {
        reply.body.as_str().unwrap_or_default().to_owned()
    }
}

fn aes_key() -> [u8; 32] {
    // The key's last character carries two bits beyond the 32 bytes, which WeChat ignores.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    lenient
        .decode(format!("{AES_KEY}="))
        .unwrap()
        .try_into()
        .unwrap()
}

/// Encrypts `message` the way WeChat does, with `padding` given explicitly: its bytes are
/// appended as they are, so a test can also send wrong ones.
fn encrypt_with(message: &str, padding: &[u8]) -> String {
    let key = aes_key();
    let mut data = b"0123456789abcdef".to_vec();
    data.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    data.extend_from_slice(message.as_bytes());
    data.extend_from_slice(APP_ID.as_bytes());
    data.extend_from_slice(padding);
    assert_eq!(data.len() % 32, 0, "the test's padding must fill the block");
    let cipher = EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, &key).unwrap()).unwrap();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    cipher
        .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap();
    STANDARD.encode(data)
}

/// A text message of `content` filled with spaces so WeChat's padding is `pad` bytes.
fn message_padded_by(pad: usize, content: &str) -> String {
    let mut message = text_message(OPENID, 9_000 + pad as u64, content);
    while !(16 + 4 + message.len() + APP_ID.len() + pad).is_multiple_of(32) {
        message = message.replacen("<Content>", "<Content> ", 1);
    }
    message
}

/// Opens an encrypted reply, checking its signature; returns the inner XML.
fn open_reply(envelope: &str) -> String {
    let encrypt = field(envelope, "Encrypt").expect("Encrypt");
    let ts = field(envelope, "TimeStamp").expect("TimeStamp");
    let nonce = field(envelope, "Nonce").expect("Nonce");
    assert_eq!(
        field(envelope, "MsgSignature").unwrap(),
        sha1_hex(&[TOKEN, &ts, &nonce, &encrypt])
    );
    let key = aes_key();
    let mut data = STANDARD.decode(encrypt).unwrap();
    let cipher = DecryptingKey::cbc(UnboundCipherKey::new(&AES_256, &key).unwrap()).unwrap();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let plain = cipher
        .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap()
        .to_vec();
    let pad = usize::from(*plain.last().unwrap());
    assert!((1..=32).contains(&pad));
    let body = &plain[..plain.len() - pad];
    let len = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    assert_eq!(&body[20 + len..], APP_ID.as_bytes());
    String::from_utf8(body[20..20 + len].to_vec()).unwrap()
}

#[tokio::test]
async fn the_url_check_echoes_for_signature_vectors_computed_elsewhere() {
    let wx = setup().await;
    // Vectors from Python: sha1("".join(sorted([token, timestamp, nonce]))).
    wx.app
        .clock
        .advance_secs(1_700_000_000 - wx.app.clock.now_secs());
    let path = |signature: &str, nonce: &str| {
        format!(
            "/wechat/{}?signature={signature}&timestamp=1700000000&nonce={nonce}&echostr=echo-123",
            wx.slug
        )
    };
    let ok = wx
        .app
        .get(
            &path("99a9f8dd8dfb08c4732652ec5542f8c619463086", "n0nce1"),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(Wx::text(&ok), "echo-123");
    let ok = wx
        .app
        .get(
            &path("1179d8c92f7989f9ef75b8c93c4aa175cbd21518", "n0nce2"),
            None,
        )
        .await;
    assert_eq!(Wx::text(&ok), "echo-123");
    // By tenant id too.
    let by_id = format!(
        "/wechat/{}?signature=99a9f8dd8dfb08c4732652ec5542f8c619463086&timestamp=1700000000&nonce=n0nce1&echostr=x",
        wx.tenant
    );
    assert_eq!(Wx::text(&wx.app.get(&by_id, None).await), "x");

    // One nonce's signature with the other nonce, or altered: refused.
    wx.app
        .get(
            &path("99a9f8dd8dfb08c4732652ec5542f8c619463086", "n0nce2"),
            None,
        )
        .await
        .assert_problem(401, "invalid_signature");
    wx.app
        .get(
            &path("99a9f8dd8dfb08c4732652ec5542f8c619463087", "n0nce1"),
            None,
        )
        .await
        .assert_problem(401, "invalid_signature");
    wx.app
        .get(&path("", "n0nce1"), None)
        .await
        .assert_problem(401, "invalid_signature");

    // Six minutes later the same signed request is stale.
    wx.app.clock.advance_secs(360);
    wx.app
        .get(
            &path("99a9f8dd8dfb08c4732652ec5542f8c619463086", "n0nce1"),
            None,
        )
        .await
        .assert_problem(401, "stale_request");
}

#[tokio::test]
async fn a_plain_text_message_gets_the_assistants_answer_passively() {
    let wx = setup().await;
    wx.model
        .clone()
        .reply("Use the Hazen-Williams formula.", 30, 8);
    let reply = wx
        .deliver(&text_message(OPENID, 1001, "How do I size a main?"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let xml = Wx::text(&reply);
    assert_eq!(
        field(&xml, "Content").unwrap(),
        "Use the Hazen-Williams formula."
    );
    assert_eq!(field(&xml, "ToUserName").unwrap(), OPENID);
    assert_eq!(field(&xml, "FromUserName").unwrap(), "gh_riverbend");
    assert_eq!(field(&xml, "MsgType").unwrap(), "text");
    let requests = wx.model.requests();
    assert_eq!(requests.len(), 1);
    assert!(format!("{:?}", requests[0]).contains("How do I size a main?"));
}

#[tokio::test]
async fn wrong_signatures_and_stale_timestamps_are_refused_without_a_model_call() {
    let wx = setup().await;
    let xml = text_message(OPENID, 1002, "hello");
    let ts = wx.now();
    let wrong = sha1_hex(&["another-token", &ts, "n"]);
    wx.post_raw(
        &format!("signature={wrong}&timestamp={ts}&nonce=n"),
        xml.clone(),
    )
    .await
    .assert_problem(401, "invalid_signature");

    let old = (wx.app.clock.now_secs() - 301).to_string();
    let signed_old = sha1_hex(&[TOKEN, &old, "n"]);
    wx.post_raw(
        &format!("signature={signed_old}&timestamp={old}&nonce=n"),
        xml.clone(),
    )
    .await
    .assert_problem(401, "stale_request");
    let ahead = (wx.app.clock.now_secs() + 301).to_string();
    let signed_ahead = sha1_hex(&[TOKEN, &ahead, "n"]);
    wx.post_raw(
        &format!("signature={signed_ahead}&timestamp={ahead}&nonce=n"),
        xml,
    )
    .await
    .assert_problem(401, "stale_request");

    // Encrypted mode: a msg_signature that does not cover this Encrypt.
    let encrypt = encrypt_with(&message_padded_by(4, "hi"), &[4; 4]);
    let bad = sha1_hex(&[TOKEN, &ts, "n", "something-else"]);
    wx.post_raw(
        &format!("timestamp={ts}&nonce=n&encrypt_type=aes&msg_signature={bad}"),
        format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
    )
    .await
    .assert_problem(401, "invalid_signature");
    assert!(wx.model.requests().is_empty());
}

#[tokio::test]
async fn encrypted_messages_with_every_padding_round_trip() {
    let wx = setup().await;
    for pad in [1_usize, 16, 32] {
        let answer = format!("Answer with padding {pad}.");
        wx.model.clone().reply(&answer, 10, 5);
        let message = message_padded_by(pad, &format!("question {pad}"));
        let encrypt = encrypt_with(&message, &vec![u8::try_from(pad).unwrap(); pad]);
        let reply = wx.deliver_encrypted(&encrypt).await;
        assert_eq!(reply.status, 200, "pad {pad}: {}", reply.body);
        let inner = open_reply(&Wx::text(&reply));
        assert_eq!(field(&inner, "Content").unwrap(), answer, "pad {pad}");
        assert_eq!(field(&inner, "ToUserName").unwrap(), OPENID);
    }
    assert_eq!(wx.model.requests().len(), 3);
}

#[tokio::test]
async fn corrupt_padding_and_foreign_messages_are_bad_requests() {
    let wx = setup().await;
    let message = message_padded_by(4, "hi");
    // Four pad bytes that do not all say four.
    let corrupt = encrypt_with(&message, &[4, 4, 9, 4]);
    wx.deliver_encrypted(&corrupt)
        .await
        .assert_problem(400, "invalid_message");
    // A pad byte above 32.
    let message = message_padded_by(1, "hi");
    let too_big = encrypt_with(&message, &[33]);
    wx.deliver_encrypted(&too_big)
        .await
        .assert_problem(400, "invalid_message");
    // Not a whole number of blocks.
    wx.deliver_encrypted(&STANDARD.encode([1_u8; 20]))
        .await
        .assert_problem(400, "invalid_message");
    assert!(wx.model.requests().is_empty());
}

#[tokio::test]
async fn doctypes_entities_and_oversized_bodies_are_refused() {
    let wx = setup().await;
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;\">]>\
                <xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
                <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&b;</Content></xml>";
    wx.deliver(bomb)
        .await
        .assert_problem(400, "invalid_message");
    let external = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>\
                    <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>";
    wx.deliver(external)
        .await
        .assert_problem(400, "invalid_message");
    wx.deliver("<xml><Content>unclosed</xml>")
        .await
        .assert_problem(400, "invalid_message");

    let huge = text_message(OPENID, 1004, &"x".repeat(64 * 1024));
    wx.deliver(&huge)
        .await
        .assert_problem(413, "payload_too_large");
    assert!(wx.model.requests().is_empty());
}

#[tokio::test]
async fn a_retried_delivery_causes_one_model_call() {
    let wx = setup().await;
    wx.model
        .clone()
        .reply("Once only.", 5, 3)
        .reply("Twice!", 5, 3);
    let xml = text_message(OPENID, 2001, "Is this asked twice?");
    let first = wx.deliver(&xml).await;
    assert_eq!(field(&Wx::text(&first), "Content").unwrap(), "Once only.");
    let retry = wx.deliver(&xml).await;
    assert_eq!(retry.status, 200);
    assert_eq!(Wx::text(&retry), "success");
    assert_eq!(wx.model.requests().len(), 1);
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_cause_one_model_call() {
    let wx = setup().await;
    wx.model
        .clone()
        .reply("Only one of you.", 5, 3)
        .reply("A second call!", 5, 3);
    let xml = text_message(OPENID, 2002, "Racing retries");
    let (a, b, c) = tokio::join!(wx.deliver(&xml), wx.deliver(&xml), wx.deliver(&xml));
    let bodies = [Wx::text(&a), Wx::text(&b), Wx::text(&c)];
    assert_eq!(
        bodies.iter().filter(|b| *b == "success").count(),
        2,
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("Only one of you.")),
        "{bodies:?}"
    );
    assert_eq!(wx.model.requests().len(), 1);
}

/// A stand-in for WeChat's server API recording what it is sent.
#[derive(Clone, Default)]
struct MockWeChat {
    token_requests: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn mock_wechat() -> (MockWeChat, String) {
    use axum::extract::{Query, State};
    use axum::routing::{get, post};
    use std::collections::HashMap;

    let mock = MockWeChat::default();
    let router = axum::Router::new()
        .route(
            "/cgi-bin/token",
            get(
                |State(m): State<MockWeChat>, Query(q): Query<HashMap<String, String>>| async move {
                    let line = format!(
                        "{}|{}|{}",
                        q.get("grant_type").cloned().unwrap_or_default(),
                        q.get("appid").cloned().unwrap_or_default(),
                        q.get("secret").cloned().unwrap_or_default()
                    );
                    m.token_requests.lock().unwrap().push(line);
                    axum::Json(json!({ "access_token": "mock-access-token", "expires_in": 7200 }))
                },
            ),
        )
        .route(
            "/cgi-bin/message/custom/send",
            post(
                |State(m): State<MockWeChat>,
                 Query(q): Query<HashMap<String, String>>,
                 axum::Json(body): axum::Json<Value>| async move {
                    let token = q.get("access_token").cloned().unwrap_or_default();
                    m.sent.lock().unwrap().push((token, body));
                    axum::Json(json!({ "errcode": 0, "errmsg": "ok" }))
                },
            ),
        )
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (mock, base)
}

#[tokio::test]
async fn a_slow_answer_is_success_at_once_then_sent_through_the_customer_service_api() {
    let (mock, base) = mock_wechat().await;
    let wx = setup_with(
        &[
            ("HYDRONET_WECHAT_API_BASE", &base),
            ("HYDRONET_WECHAT_REPLY_WITHIN_MS", "100"),
        ],
        Duration::from_millis(700),
    )
    .await;
    wx.model
        .clone()
        .reply("A considered answer.", 12, 4)
        .reply("Second.", 12, 2);

    let reply = wx.deliver(&text_message(OPENID, 3001, "Think hard")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(Wx::text(&reply), "success");

    let sent = wait_for(|| mock.sent.lock().unwrap().clone(), 1).await;
    let (token, body) = &sent[0];
    assert_eq!(token, "mock-access-token");
    assert_eq!(
        body,
        &json!({ "touser": OPENID, "msgtype": "text", "text": { "content": "A considered answer." } })
    );
    assert_eq!(
        mock.token_requests.lock().unwrap().as_slice(),
        [format!("client_credential|{APP_ID}|{APP_SECRET}")]
    );

    // A second slow answer reuses the cached access token.
    wx.deliver(&text_message(OPENID, 3002, "And again")).await;
    wait_for(|| mock.sent.lock().unwrap().clone(), 2).await;
    assert_eq!(mock.token_requests.lock().unwrap().len(), 1);
    assert_eq!(wx.model.requests().len(), 2);
}

async fn wait_for<T>(read: impl Fn() -> Vec<T>, count: usize) -> Vec<T> {
    for _ in 0..200 {
        let items = read();
        if items.len() >= count {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {count} calls to the mock API in time");
}

#[tokio::test]
async fn each_wechat_user_has_their_own_conversation_with_history() {
    let wx = setup().await;
    wx.model
        .clone()
        .reply("Alice, first answer.", 5, 3)
        .reply("Bob, first answer.", 5, 3)
        .reply("Alice, second answer.", 5, 3);
    wx.deliver(&text_message("oAlice", 4001, "Alice asks about pumps"))
        .await;
    wx.deliver(&text_message("oBob", 4002, "Bob asks about valves"))
        .await;
    let third = wx
        .deliver(&text_message("oAlice", 4003, "Alice follows up"))
        .await;
    assert_eq!(
        field(&Wx::text(&third), "Content").unwrap(),
        "Alice, second answer."
    );

    let requests = wx.model.requests();
    let alice_again = format!("{:?}", requests[2]);
    assert!(alice_again.contains("Alice asks about pumps"));
    assert!(alice_again.contains("Alice, first answer."));
    assert!(!alice_again.contains("Bob asks about valves"));
    let bob = format!("{:?}", requests[1]);
    assert!(!bob.contains("Alice asks about pumps"));

    // The service user owning them is not a user anyone can see or sign in as.
    let users = wx.app.get("/api/tenant/users", Some(&wx.owner)).await;
    let listed = users.body["users"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", users.body);
    let email = format!("wechat@{}.invalid", wx.tenant);
    let login = wx.app.login(&email, "anything-at-all-1").await;
    assert_eq!(login.status, 401, "{}", login.body);
    let info = wx.app.get("/api/tenant/info", Some(&wx.owner)).await;
    assert_eq!(info.body["tenant"]["usage"]["users"], 1);
}

#[tokio::test]
async fn a_suspended_tenant_gets_no_model_call() {
    let wx = setup().await;
    wx.model.clone().reply("Should not be asked.", 5, 3);
    wx.app
        .state
        .limits
        .set_status(wx.tenant.parse().unwrap(), Plan::Free, true);
    let reply = wx
        .deliver(&text_message(OPENID, 5001, "Anyone there?"))
        .await;
    assert_eq!(reply.status, 200);
    let content = field(&Wx::text(&reply), "Content").unwrap();
    assert!(content.contains("unavailable"), "{content}");
    assert!(wx.model.requests().is_empty());
}

#[tokio::test]
async fn events_and_other_message_types_get_fixed_replies() {
    let wx = setup().await;
    let subscribe = "<xml><ToUserName>gh_riverbend</ToUserName><FromUserName>oNew</FromUserName>\
                     <CreateTime>1700000001</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>";
    let welcome = wx.deliver(subscribe).await;
    assert!(
        field(&Wx::text(&welcome), "Content")
            .unwrap()
            .starts_with("Welcome")
    );
    let image = "<xml><ToUserName>gh_riverbend</ToUserName><FromUserName>oNew</FromUserName>\
                 <CreateTime>1700000002</CreateTime><MsgType>image</MsgType><MsgId>6001</MsgId></xml>";
    let reply = wx.deliver(image).await;
    assert!(
        field(&Wx::text(&reply), "Content")
            .unwrap()
            .contains("text messages")
    );
    assert!(wx.model.requests().is_empty());
}

#[tokio::test]
async fn settings_never_show_secrets_and_their_change_is_audited_without_them() {
    let wx = setup().await;
    let shown = wx.app.get("/api/tenant/wechat", Some(&wx.owner)).await;
    assert_eq!(shown.status, 200);
    let settings = &shown.body["wechat"];
    assert_eq!(settings["app_id"], APP_ID);
    assert_eq!(settings["enabled"], true);
    assert_eq!(settings["token_set"], true);
    assert_eq!(settings["app_secret_set"], true);
    assert_eq!(settings["encoding_aes_key_set"], true);
    assert_eq!(settings["source"], "tenant");
    assert_eq!(settings["callback_path"], format!("/wechat/{}", wx.slug));

    // Later changes may leave the secrets out; the key can be removed.
    let changed = wx
        .app
        .put(
            "/api/tenant/wechat",
            json!({ "app_id": APP_ID, "encoding_aes_key": null, "enabled": false }),
            Some(&wx.owner),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["wechat"]["encoding_aes_key_set"], false);
    assert_eq!(changed.body["wechat"]["enabled"], false);
    // Disabled: the callback is gone.
    wx.deliver(&text_message(OPENID, 7001, "hello?"))
        .await
        .assert_problem(404, "not_found");

    let events: Vec<_> = wx
        .app
        .audit
        .events()
        .into_iter()
        .filter(|e| e.action == "wechat.settings_changed")
        .collect();
    assert_eq!(events.len(), 2);
    let details: Vec<&Value> = events.iter().map(|e| &e.details).collect();
    let everything = format!("{} {} {}", shown.body, changed.body, json!(details));
    for secret in [TOKEN, APP_SECRET, AES_KEY] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn settings_are_validated_and_a_first_configuration_needs_every_secret() {
    let app = TestApp::new().await;
    let owner = app
        .register("owner@fresh.example", "Fresh Water")
        .await
        .token();
    let missing = app
        .put(
            "/api/tenant/wechat",
            json!({ "app_id": APP_ID }),
            Some(&owner),
        )
        .await;
    missing.assert_problem(422, "validation_failed");
    assert!(
        missing.body["errors"]["token"].is_array(),
        "{}",
        missing.body
    );
    assert!(missing.body["errors"]["app_secret"].is_array());

    let bad = app
        .put(
            "/api/tenant/wechat",
            json!({ "app_id": "wx 1", "token": "t!", "app_secret": "s", "encoding_aes_key": "short", "enabled": "yes" }),
            Some(&owner),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    for field in ["app_id", "token", "encoding_aes_key", "enabled"] {
        assert!(
            bad.body["errors"][field].is_array(),
            "{field}: {}",
            bad.body
        );
    }
    let unset = app.get("/api/tenant/wechat", Some(&owner)).await;
    assert_eq!(unset.body["wechat"]["configured"], false);
}

#[tokio::test]
async fn wechat_enabled_false_turns_every_callback_off() {
    let wx = setup_with(&[("WECHAT_ENABLED", "false")], Duration::ZERO).await;
    let ts = wx.now();
    let signature = sha1_hex(&[TOKEN, &ts, "n"]);
    wx.app
        .get(
            &format!(
                "/wechat/{}?signature={signature}&timestamp={ts}&nonce=n&echostr=e",
                wx.slug
            ),
            None,
        )
        .await
        .assert_problem(404, "not_found");
    let shown = wx.app.get("/api/tenant/wechat", Some(&wx.owner)).await;
    assert_eq!(shown.body["wechat"]["channel_enabled"], false);
}

#[tokio::test]
async fn the_environment_account_serves_the_named_tenant_until_it_saves_its_own() {
    let app = TestApp::with_env(&[
        ("HYDRONET_WECHAT_TENANT", "operator-water"),
        ("WECHAT_APP_ID", APP_ID),
        ("WECHAT_TOKEN", "envtoken123"),
        ("WECHAT_APP_SECRET", APP_SECRET),
    ])
    .await;
    let reply = app.register("op@operator.example", "Operator Water").await;
    let owner = reply.token();
    assert_eq!(reply.body["tenant"]["slug"], "operator-water");
    let other = app.register("x@other.example", "Other Water").await;
    let other_slug = other.body["tenant"]["slug"].as_str().unwrap().to_owned();

    let ts = app.clock.now_secs().to_string();
    let signature = sha1_hex(&["envtoken123", &ts, "n"]);
    let query = format!("signature={signature}&timestamp={ts}&nonce=n&echostr=env-ok");
    let echoed = app
        .get(&format!("/wechat/operator-water?{query}"), None)
        .await;
    assert_eq!(echoed.body, Value::String("env-ok".into()));
    // Another tenant does not inherit it.
    app.get(&format!("/wechat/{other_slug}?{query}"), None)
        .await
        .assert_problem(404, "not_found");

    let shown = app.get("/api/tenant/wechat", Some(&owner)).await;
    assert_eq!(shown.body["wechat"]["source"], "environment");
    assert!(!shown.body.to_string().contains("envtoken123"));
    assert!(!shown.body.to_string().contains(APP_SECRET));
    assert_eq!(StatusCode::OK, shown.status);
}
