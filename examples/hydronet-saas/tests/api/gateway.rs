//! The OpenAI-compatible gateway, as an OpenAI SDK would use it.

use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn chat_completions_answer_in_the_openai_format_and_are_metered() {
    let app = TestApp::new().await;
    let token = app.register("sdk@gw.example", "Gateway").await.token();
    app.model
        .clone()
        .reply("Darcy–Weisbach, with Swamee–Jain for f.", 21, 12);

    let reply = app
        .post(
            "/v1/chat/completions",
            json!({ "model": "qwen-turbo", "messages": [{ "role": "user", "content": "Head loss formula?" }], "temperature": 0.2 }),
            Some(&token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["object"], "chat.completion");
    assert_eq!(reply.body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        reply.body["choices"][0]["message"]["content"],
        "Darcy–Weisbach, with Swamee–Jain for f."
    );
    assert_eq!(reply.body["usage"]["total_tokens"], 33);
    // Parameters the gateway does not model still reach the model.
    let request = &app.model.requests()[0];
    assert_eq!(request.temperature, Some(0.2));
    assert_eq!(request.model.as_deref(), Some("qwen-turbo"));

    let usage = app.get("/api/tenant/usage", Some(&token)).await;
    assert_eq!(usage.body["budget"]["day"]["used"], 33);
}

#[tokio::test]
async fn streamed_completions_end_with_usage_and_done() {
    let app = TestApp::new().await;
    let token = app.register("stream@gw.example", "GwStream").await.token();
    app.model.clone().reply("Open the bypass valve.", 8, 5);

    let reply = app
        .post(
            "/v1/chat/completions",
            json!({ "messages": [{ "role": "user", "content": "Pressure surge?" }], "stream": true }),
            Some(&token),
        )
        .await;
    let text = reply.body.as_str().unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Open the bypass valve.");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 13);

    let usage = app.get("/api/tenant/usage", Some(&token)).await;
    assert_eq!(usage.body["budget"]["day"]["used"], 13);
}

#[tokio::test]
async fn models_are_listed_and_bad_requests_refused() {
    let app = TestApp::new().await;
    let token = app.register("models@gw.example", "GwModels").await.token();

    let models = app.get("/v1/models", Some(&token)).await;
    assert_eq!(models.body["object"], "list");
    assert_eq!(models.body["data"][0]["id"], "qwen-turbo");

    app.post(
        "/v1/chat/completions",
        json!({ "messages": [] }),
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/chat/completions",
        json!({ "messages": "hello" }),
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/chat/completions",
        json!({ "messages": [{ "role": "user", "content": "x" }] }),
        None,
    )
    .await
    .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn the_tenants_default_model_is_used_within_what_its_plan_allows() {
    let app = TestApp::new().await;
    let token = app.register("models@gw.example", "Models").await.token();

    let listed = app.get("/v1/models", Some(&token)).await;
    let ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["qwen-turbo", "qwen-plus"]);

    let settings = app.get("/api/tenant/settings", Some(&token)).await;
    assert_eq!(settings.body["settings"]["default_model"], "qwen-turbo");
    app.put(
        "/api/tenant/settings",
        json!({ "default_model": "qwen-max" }),
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
    let chosen = app
        .put(
            "/api/tenant/settings",
            json!({ "default_model": "qwen-plus" }),
            Some(&token),
        )
        .await;
    assert_eq!(
        chosen.body["settings"]["default_model"], "qwen-plus",
        "{}",
        chosen.body
    );

    // Chat and the gateway use it when no model is asked for.
    app.model.clone().reply("a", 1, 1);
    let conversation = app
        .post(
            "/api/chat/conversations",
            json!({ "title": "m" }),
            Some(&token),
        )
        .await;
    let id = conversation.body["conversation"]["id"].as_str().unwrap();
    app.post(
        &format!("/api/chat/conversations/{id}/messages"),
        json!({ "message": "hi" }),
        Some(&token),
    )
    .await;
    app.model.clone().reply("b", 1, 1);
    app.post(
        "/v1/chat/completions",
        json!({ "messages": [{ "role": "user", "content": "hi" }] }),
        Some(&token),
    )
    .await;
    let used: Vec<Option<String>> = app.model.requests().into_iter().map(|r| r.model).collect();
    assert_eq!(
        used,
        [Some("qwen-plus".to_owned()), Some("qwen-plus".to_owned())]
    );

    // A model beyond the plan is refused.
    app.post(
        "/v1/chat/completions",
        json!({ "model": "qwen-max", "messages": [{ "role": "user", "content": "hi" }] }),
        Some(&token),
    )
    .await
    .assert_problem(403, "model_not_allowed");
}
