//! Tenants' MCP servers through the real router, against the water-network MCP server
//! running in-process: registration behind the egress policy, tool approval and roles,
//! and tool-backed answers in chat that are audited and counted.

use hydronet_llm::Role;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

/// An application whose egress policy lets it reach loopback, and the water server.
async fn setup() -> (TestApp, String, tokio::task::JoinHandle<()>) {
    let (addr, server) = water_mcp::spawn_local().await.expect("water server");
    let app = TestApp::with_env(&[("HYDRONET_MCP_ALLOW", "127.0.0.1/32")]).await;
    (app, water_mcp::mcp_url(addr), server)
}

async fn register(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/api/tenant/mcp-servers", body, Some(token)).await
}

async fn ask(app: &TestApp, token: &str, message: &str) -> Reply {
    let conversation = app
        .post(
            "/api/chat/conversations",
            json!({ "title": "tools" }),
            Some(token),
        )
        .await;
    let id = conversation.body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/chat/conversations/{id}/messages"),
        json!({ "message": message }),
        Some(token),
    )
    .await
}

fn tool_names(request: &hydronet_llm::ChatRequest) -> Vec<String> {
    request
        .tools
        .iter()
        .map(|t| t.function.name.clone())
        .collect()
}

#[tokio::test]
async fn enabled_tools_answer_in_chat_and_are_audited_and_counted() {
    let (app, url, _server) = setup().await;
    let owner = app.register("eng@mcp.example", "Utility").await.token();

    let created = register(
        &app,
        &owner,
        json!({ "name": "water", "url": url, "authorization": "Bearer tool-secret-123" }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let server = &created.body["server"];
    assert_eq!(server["status"], "active");
    assert_eq!(server["has_authorization"], true);
    assert!(!created.body.to_string().contains("tool-secret-123"));
    let tools = server["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 5);
    assert!(
        tools.iter().all(|t| t["enabled"] == false),
        "tools start disabled"
    );
    assert_eq!(server["tools_digest"], server["approved_digest"]);
    let id = server["id"].as_str().unwrap().to_owned();

    // Nothing enabled yet: the model is offered no tools.
    app.model.clone().reply("No tools.", 3, 2);
    assert_eq!(ask(&app, &owner, "hello").await.status, 200);
    assert!(app.model.requests()[0].tools.is_empty());

    let configured = app
        .put(
            &format!("/api/tenant/mcp-servers/{id}/tools"),
            json!({ "tools": { "pump_power": { "enabled": true } } }),
            Some(&owner),
        )
        .await;
    assert_eq!(configured.status, 200, "{}", configured.body);

    app.model.clone().call_tool(
        "water__pump_power",
        r#"{"flow_m3_per_s":0.05,"head_m":30,"efficiency":0.75}"#,
        40,
        12,
    );
    app.model
        .clone()
        .reply("The pump needs about 19.6 kW at the shaft.", 90, 15);
    let answered = ask(
        &app,
        &owner,
        "What shaft power for 50 L/s against 30 m at 75 %?",
    )
    .await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_eq!(
        answered.body["message"]["content"],
        "The pump needs about 19.6 kW at the shaft."
    );
    // Both model calls are metered.
    assert_eq!(answered.body["usage"]["total_tokens"], 157);
    assert_eq!(answered.body["tool_calls"], json!(["water__pump_power"]));

    let requests = app.model.requests();
    let (first, second) = (&requests[1], &requests[2]);
    assert_eq!(tool_names(first), ["water__pump_power"]);
    let tool_reply = second.messages.last().unwrap();
    assert_eq!(tool_reply.role, Role::Tool);
    let output = tool_reply.content.as_deref().unwrap();
    assert!(
        output.contains("1958"),
        "the tool's result reached the model: {output}"
    );

    let events = app.audit.events();
    let call = events
        .iter()
        .find(|e| e.action == "mcp.tool_called")
        .expect("the tool call is audited");
    assert_eq!(call.target.as_deref(), Some("mcp:water/pump_power"));
    let dump = format!("{events:?}");
    assert!(
        !dump.contains("tool-secret-123"),
        "the server's secret was audited"
    );

    let usage = app.get("/api/tenant/usage", Some(&owner)).await;
    let today = usage.body["days"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["tool_calls"], 1, "{today}");

    // Streamed, the tools called come first as `tool` events, then the reply.
    app.model.clone().call_tool(
        "water__pump_power",
        r#"{"flow_m3_per_s":0.05,"head_m":30,"efficiency":0.75}"#,
        40,
        12,
    );
    app.model.clone().reply("About 19.6 kW.", 90, 15);
    let conversation = app
        .post("/api/chat/conversations", json!({}), Some(&owner))
        .await;
    let cid = conversation.body["conversation"]["id"].as_str().unwrap();
    let streamed = app
        .post(
            &format!("/api/chat/conversations/{cid}/messages"),
            json!({ "message": "Shaft power again?", "stream": true }),
            Some(&owner),
        )
        .await;
    assert_eq!(streamed.status, 200);
    let text = streamed.body.as_str().expect("an event stream");
    let tool = text
        .find("event: tool\ndata: {\"name\":\"water__pump_power\"}")
        .unwrap_or_else(|| panic!("no tool event: {text}"));
    let delta = text.find("event: delta").expect("a delta");
    assert!(tool < delta, "{text}");
}

#[tokio::test]
async fn tools_can_be_kept_to_roles() {
    let (app, url, _server) = setup().await;
    let registered = app.register("lead@roles-mcp.example", "RolesMcp").await;
    let owner = registered.token();
    let tenant = registered.body["tenant"]["id"].as_str().unwrap().to_owned();
    let (_, member) = app
        .add_user(&tenant, "crew@roles-mcp.example", &["member"])
        .await;
    let member = member.token();

    let created = register(&app, &owner, json!({ "name": "water", "url": url })).await;
    let id = created.body["server"]["id"].as_str().unwrap().to_owned();
    app.put(
        &format!("/api/tenant/mcp-servers/{id}/tools"),
        json!({ "tools": {
            "pump_power": { "enabled": true, "roles": ["admin", "owner"] },
            "tank_drain_time": { "enabled": true },
        } }),
        Some(&owner),
    )
    .await;

    app.model.clone().reply("a", 1, 1).reply("b", 1, 1);
    ask(&app, &member, "hi").await;
    ask(&app, &owner, "hi").await;
    let requests = app.model.requests();
    assert_eq!(tool_names(&requests[0]), ["water__tank_drain_time"]);
    let mut owners = tool_names(&requests[1]);
    owners.sort();
    assert_eq!(owners, ["water__pump_power", "water__tank_drain_time"]);

    // Unknown tools and roles are refused.
    for tools in [
        json!({ "nope": { "enabled": true } }),
        json!({ "pump_power": { "enabled": true, "roles": ["wizard"] } }),
    ] {
        app.put(
            &format!("/api/tenant/mcp-servers/{id}/tools"),
            json!({ "tools": tools }),
            Some(&owner),
        )
        .await
        .assert_problem(422, "validation_failed");
    }
    // Members read servers but do not change them.
    assert_eq!(
        app.get("/api/tenant/mcp-servers", Some(&member))
            .await
            .status,
        200
    );
    register(
        &app,
        &member,
        json!({ "name": "mine", "url": "https://example.com/mcp" }),
    )
    .await
    .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn a_changed_tool_list_pauses_the_server_until_approved() {
    let (app, url, _server) = setup().await;
    let owner = app.register("ops@paused.example", "Paused").await.token();
    let created = register(&app, &owner, json!({ "name": "water", "url": url })).await;
    let id = created.body["server"]["id"].as_str().unwrap().to_owned();
    app.put(
        &format!("/api/tenant/mcp-servers/{id}/tools"),
        json!({ "tools": { "pump_power": { "enabled": true } } }),
        Some(&owner),
    )
    .await;

    // As if an administrator had approved an earlier list than the one served now.
    let tenant = app.get("/api/tenant/info", Some(&owner)).await.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tx = app.state.db.tenant(tenant.parse().unwrap()).await.unwrap();
    sqlx::query("UPDATE mcp_servers SET approved_digest = 'an-older-list' WHERE id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let refreshed = app
        .post(
            &format!("/api/tenant/mcp-servers/{id}/refresh"),
            json!({}),
            Some(&owner),
        )
        .await;
    assert_eq!(
        refreshed.body["server"]["status"], "paused",
        "{}",
        refreshed.body
    );
    assert!(
        app.audit
            .events()
            .iter()
            .any(|e| e.action == "mcp.tools_changed")
    );
    app.model.clone().reply("paused", 1, 1);
    ask(&app, &owner, "hi").await;
    assert!(
        app.model.requests().last().unwrap().tools.is_empty(),
        "a paused server's tools are offered"
    );

    app.post(
        &format!("/api/tenant/mcp-servers/{id}/approve"),
        json!({ "tools_digest": "not-what-was-listed" }),
        Some(&owner),
    )
    .await
    .assert_problem(409, "digest_mismatch");
    let digest = refreshed.body["server"]["tools_digest"].clone();
    let approved = app
        .post(
            &format!("/api/tenant/mcp-servers/{id}/approve"),
            json!({ "tools_digest": digest }),
            Some(&owner),
        )
        .await;
    assert_eq!(approved.body["server"]["status"], "active");
    app.model.clone().reply("back", 1, 1);
    ask(&app, &owner, "hi").await;
    assert_eq!(
        tool_names(app.model.requests().last().unwrap()),
        ["water__pump_power"]
    );
}

#[tokio::test]
async fn private_addresses_and_other_schemes_are_refused_by_default() {
    let (addr, _server) = water_mcp::spawn_local().await.unwrap();
    let app = TestApp::new().await;
    let owner = app.register("ops@egress.example", "Egress").await.token();
    for url in [
        water_mcp::mcp_url(addr),
        format!("http://localhost:{}/mcp", addr.port()),
        "http://169.254.169.254/latest".to_owned(),
        "http://10.0.0.7/mcp".to_owned(),
        "ftp://example.com/mcp".to_owned(),
    ] {
        let reply = register(&app, &owner, json!({ "name": "x", "url": url })).await;
        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.body["errors"]["url"].is_array(),
            "{url}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn servers_are_counted_against_the_plan_and_failures_reach_the_model_as_text() {
    let (app, url, server) = setup().await;
    let owner = app
        .register("ops@quota-mcp.example", "QuotaMcp")
        .await
        .token();
    let created = register(&app, &owner, json!({ "name": "water", "url": url })).await;
    let id = created.body["server"]["id"].as_str().unwrap().to_owned();
    // The free plan allows one server.
    register(&app, &owner, json!({ "name": "second", "url": url }))
        .await
        .assert_problem(403, "quota_exceeded");

    app.put(
        &format!("/api/tenant/mcp-servers/{id}/tools"),
        json!({ "tools": { "pump_power": { "enabled": true } } }),
        Some(&owner),
    )
    .await;
    // The server goes away: the call fails, the model is told, the turn still answers.
    server.abort();
    let _ = server.await;
    app.model.clone().call_tool("water__pump_power", "{}", 5, 5);
    app.model
        .clone()
        .reply("The tool is unavailable right now.", 5, 5);
    let answered = ask(&app, &owner, "power?").await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    let told = app
        .model
        .requests()
        .last()
        .unwrap()
        .messages
        .last()
        .unwrap()
        .clone();
    assert!(told.content.unwrap().contains("could not be called"));
    let failed = app
        .audit
        .events()
        .into_iter()
        .find(|e| e.action == "mcp.tool_called")
        .unwrap();
    assert_eq!(failed.outcome, hydronet_tenancy::audit::Outcome::Failed);

    let deleted = app
        .request(
            http::Method::DELETE,
            &format!("/api/tenant/mcp-servers/{id}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(deleted.status, 200);
    let again = register(&app, &owner, json!({ "name": "again", "url": url })).await;
    assert_eq!(again.status, 201, "the slot was given back: {}", again.body);
}
