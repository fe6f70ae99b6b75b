//! Chat through the real router against a scripted model: conversations, plain and
//! streamed replies, metering into budgets and usage, failures, quotas, disconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use futures_util::{StreamExt, stream};
use http_body_util::BodyExt;
use hydronet_llm::{
    BoxFuture, ChatModel, ChatRequest, ChatResponse, ChatStream, LlmError, StreamEvent,
};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

async fn conversation(app: &TestApp, token: &str) -> String {
    let created = app
        .post(
            "/api/chat/conversations",
            json!({ "title": "Pumps" }),
            Some(token),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn say(app: &TestApp, token: &str, id: &str, text: &str) -> Reply {
    app.post(
        &format!("/api/chat/conversations/{id}/messages"),
        json!({ "message": text }),
        Some(token),
    )
    .await
}

fn overrides(fields: Value) -> hydronet_saas::limits::LimitOverrides {
    serde_json::from_value(fields).unwrap()
}

#[tokio::test]
async fn conversations_are_private_to_their_owner() {
    let app = TestApp::new().await;
    let owner = app.register("c@chat-a.example", "A").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let (_, colleague) = app.add_user(&tenant, "d@chat-a.example", &["member"]).await;
    let outsider = app.register("e@chat-b.example", "B").await;
    let id = conversation(&app, &owner.token()).await;

    let listed = app
        .get("/api/chat/conversations", Some(&owner.token()))
        .await;
    assert_eq!(listed.body["conversations"][0]["id"], id.as_str());
    let renamed = app
        .request(
            http::Method::PATCH,
            &format!("/api/chat/conversations/{id}"),
            Some(json!({ "title": "Valves" })),
            Some(&owner.token()),
        )
        .await;
    assert_eq!(renamed.body["conversation"]["title"], "Valves");

    for token in [colleague.token(), outsider.token()] {
        app.get(&format!("/api/chat/conversations/{id}"), Some(&token))
            .await
            .assert_problem(404, "not_found");
        say(&app, &token, &id, "hello")
            .await
            .assert_problem(404, "not_found");
        let theirs = app.get("/api/chat/conversations", Some(&token)).await;
        assert_eq!(theirs.body["conversations"], json!([]));
    }

    let deleted = app
        .request(
            http::Method::DELETE,
            &format!("/api/chat/conversations/{id}"),
            None,
            Some(&owner.token()),
        )
        .await;
    assert_eq!(deleted.status, 200);
    app.get(
        &format!("/api/chat/conversations/{id}"),
        Some(&owner.token()),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_plain_reply_is_stored_and_metered_as_reported() {
    let app = TestApp::new().await;
    let owner = app.register("p@chat-p.example", "P").await;
    let token = owner.token();
    let id = conversation(&app, &token).await;
    app.model
        .clone()
        .reply("Use Hazen–Williams with C = 130.", 11, 7);

    let reply = say(&app, &token, &id, "Which formula for a ductile iron main?").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["message"]["content"],
        "Use Hazen–Williams with C = 130."
    );
    assert_eq!(reply.body["usage"]["total_tokens"], 18);

    // The model saw the system prompt first and the question last.
    let request = &app.model.requests()[0];
    assert!(
        request.messages[0]
            .content
            .as_deref()
            .unwrap()
            .contains("water")
    );
    assert_eq!(
        request.messages.last().unwrap().content.as_deref(),
        Some("Which formula for a ductile iron main?")
    );

    let shown = app
        .get(&format!("/api/chat/conversations/{id}"), Some(&token))
        .await;
    let messages = shown.body["conversation"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["usage"]["completion_tokens"], 7);

    let usage = app.get("/api/tenant/usage", Some(&token)).await;
    let today = usage.body["days"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["prompt_tokens"], 11);
    assert_eq!(today["completion_tokens"], 7);
    assert_eq!(usage.body["budget"]["day"]["used"], 18);

    // The next turn carries the history.
    app.model.clone().reply("Yes.", 30, 1);
    say(&app, &token, &id, "And for PVC?").await;
    assert_eq!(app.model.requests()[1].messages.len(), 4);
}

/// The events of an SSE body, as (name, data).
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (!data.is_empty()).then(|| (name, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_reply_arrives_in_deltas_then_done_with_usage() {
    let app = TestApp::new().await;
    let token = app.register("s@chat-s.example", "S").await.token();
    let id = conversation(&app, &token).await;
    app.model.clone().reply("Check the pump curve first.", 9, 6);

    let request = http::Request::post(format!("/api/chat/conversations/{id}/messages"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(Body::from(
            json!({ "message": "Low pressure at night?" }).to_string(),
        ))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let events = sse_events(reply.body.as_str().unwrap());
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "delta")
        .map(|(_, d)| d["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Check the pump curve first.");
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done");
    assert_eq!(done["usage"]["total_tokens"], 15);

    let shown = app
        .get(&format!("/api/chat/conversations/{id}"), Some(&token))
        .await;
    let messages = shown.body["conversation"]["messages"].as_array().unwrap();
    assert_eq!(messages[1]["id"], done["message_id"]);
    let usage = app.get("/api/tenant/usage", Some(&token)).await;
    assert_eq!(usage.body["budget"]["day"]["used"], 15);
}

#[tokio::test]
async fn upstream_failures_store_no_reply_and_mark_the_turn() {
    let app = TestApp::new().await;
    let token = app.register("f@chat-f.example", "F").await.token();
    let id = conversation(&app, &token).await;
    app.model
        .clone()
        .fail(LlmError::Status {
            status: 500,
            retry_after: None,
            message: None,
        })
        .fail(LlmError::Timeout);

    say(&app, &token, &id, "first")
        .await
        .assert_problem(502, "upstream_error");
    say(&app, &token, &id, "second")
        .await
        .assert_problem(504, "upstream_timeout");

    let shown = app
        .get(&format!("/api/chat/conversations/{id}"), Some(&token))
        .await;
    let messages = shown.body["conversation"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .all(|m| m["role"] == "user" && m["status"] == "failed")
    );
    let usage = app.get("/api/tenant/usage", Some(&token)).await;
    assert_eq!(
        usage.body["budget"]["day"]["used"], 0,
        "reservations were released"
    );

    // A failing stream says so in an `error` event.
    app.model
        .clone()
        .fail(LlmError::Upstream("model overloaded".into()));
    let streamed = app
        .post(
            &format!("/api/chat/conversations/{id}/messages"),
            json!({ "message": "third", "stream": true }),
            Some(&token),
        )
        .await;
    let events = sse_events(streamed.body.as_str().unwrap());
    assert_eq!(events.last().unwrap().0, "error");
    assert_eq!(events.last().unwrap().1["code"], "upstream_error");
}

#[tokio::test]
async fn quotas_refuse_with_quota_exceeded() {
    let app = TestApp::new().await;
    let owner = app.register("q@chat-q.example", "Q").await;
    let tenant = owner.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let token = owner.token();
    app.state.limits.set(
        tenant,
        overrides(json!({ "max_conversations": 1, "tokens_per_day": 5 })),
    );

    let id = conversation(&app, &token).await;
    app.post("/api/chat/conversations", json!({}), Some(&token))
        .await
        .assert_problem(403, "quota_exceeded");

    app.model.clone().reply("ok", 10, 10);
    assert_eq!(
        say(&app, &token, &id, "uses the budget up").await.status,
        200
    );
    say(&app, &token, &id, "one more")
        .await
        .assert_problem(403, "quota_exceeded");
    // Refused before anything was stored or asked.
    assert_eq!(app.model.requests().len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_calls_overspend_a_budget_by_at_most_one_reservation() {
    let app = TestApp::new().await;
    let owner = app.register("b@chat-b.example", "Budget").await;
    let tenant = owner.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let token = owner.token();
    let id = conversation(&app, &token).await;
    // Each call reserves its prompt plus the 1024-token reply ceiling; room for ten.
    let reservation = 1024 + 10;
    let limit = 10 * reservation;
    app.state.limits.set(tenant, overrides(json!({ "tokens_per_day": limit, "user_requests_per_minute": 1000, "requests_per_minute": 1000 })));
    for _ in 0..50 {
        app.model.clone().reply("ok", 1000, 30);
    }

    let calls = (0..50).map(|i| {
        let (app, token, id) = (&app, token.clone(), id.clone());
        async move {
            say(app, &token, &id, &format!("question {i}"))
                .await
                .status
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 403),
        "{statuses:?}"
    );
    assert!(admitted >= 10, "{admitted} admitted");

    let usage = app.get("/api/tenant/usage", Some(&token)).await;
    let used = usage.body["budget"]["day"]["used"].as_u64().unwrap();
    assert_eq!(
        used,
        admitted as u64 * 1030,
        "every admitted call settled to what it used"
    );
    assert!(
        used <= limit + reservation,
        "{used} tokens against a budget of {limit}"
    );
}

/// A model that sends one piece, then waits forever, noting when it is cancelled.
struct Hanging {
    cancelled: Arc<AtomicBool>,
}

struct Flag(Arc<AtomicBool>);

impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl ChatModel for Hanging {
    fn complete(&self, _: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(async { Err(LlmError::Timeout) })
    }

    fn stream(&self, _: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        let flag = Flag(self.cancelled.clone());
        let first = StreamEvent::Delta {
            content: Some("Partial answer".into()),
            reasoning: None,
            tool_calls: Vec::new(),
        };
        let events =
            stream::once(async move { Ok(first) }).chain(stream::pending().map(move |item| {
                let _ = &flag;
                item
            }));
        Box::pin(async move { Ok(Box::pin(events) as ChatStream) })
    }
}

#[tokio::test]
async fn a_client_leaving_mid_stream_cancels_the_call_and_usage_is_recorded() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let app = TestApp::with_chat_model(Arc::new(Hanging {
        cancelled: cancelled.clone(),
    }))
    .await;
    let token = app.register("g@chat-g.example", "G").await.token();
    let id = conversation(&app, &token).await;

    let request = http::Request::post(format!("/api/chat/conversations/{id}/messages"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "message": "Why is the tank draining?", "stream": true }).to_string(),
        ))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(first.data_ref().unwrap()).contains("Partial answer"));
    drop(body);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cancelled.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream call was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let usage = app.get("/api/tenant/usage", Some(&token)).await;
        let today = usage.body["days"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        if today["completion_tokens"].as_u64().unwrap_or(0) > 0 {
            assert!(usage.body["budget"]["day"]["used"].as_u64().unwrap() > 0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage of the abandoned call was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_tenants_own_system_prompt_leads_every_conversation() {
    let app = TestApp::new().await;
    let owner = app.register("sp@chat-sp.example", "Prompted").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let token = owner.token();
    let (_, member) = app
        .add_user(&tenant, "m@chat-sp.example", &["member"])
        .await;

    let default = app.get("/api/tenant/settings", Some(&token)).await;
    assert_eq!(default.body["settings"]["system_prompt_is_default"], true);

    let prompt = "You answer for the Riverside utility. Always cite the network model version.";
    app.put(
        "/api/tenant/settings",
        json!({ "system_prompt": prompt }),
        Some(&member.token()),
    )
    .await
    .assert_problem(403, "forbidden");
    let set = app
        .put(
            "/api/tenant/settings",
            json!({ "system_prompt": prompt, "name": "Riverside Utility" }),
            Some(&token),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["settings"]["name"], "Riverside Utility");
    assert!(
        app.audit
            .events()
            .iter()
            .any(|e| e.action == "tenant.settings_changed")
    );

    let id = conversation(&app, &token).await;
    app.model.clone().reply("ok", 1, 1);
    say(&app, &token, &id, "hello").await;
    assert_eq!(
        app.model.requests()[0].messages[0].content.as_deref(),
        Some(prompt)
    );

    let reset = app
        .put(
            "/api/tenant/settings",
            json!({ "system_prompt": null }),
            Some(&token),
        )
        .await;
    assert_eq!(reset.body["settings"]["system_prompt_is_default"], true);
    app.put(
        "/api/tenant/settings",
        json!({ "system_prompt": 42, "name": "" }),
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
}
