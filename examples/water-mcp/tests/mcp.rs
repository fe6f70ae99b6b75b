//! The server in-process on a free port, driven by the rmcp client over streamable HTTP,
//! as an assistant would drive it.

use rmcp::{
    ClientServiceExt, RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, JsonObject, ProtocolVersion},
    service::{ClientLifecycleMode, RunningService},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

type Client = RunningService<RoleClient, ()>;

/// A fresh server and a client connected with the legacy `initialize` handshake.
async fn connect() -> (Client, JoinHandle<()>) {
    let (addr, server) = water_mcp::spawn_local().await.expect("server starts");
    let transport = StreamableHttpClientTransport::from_uri(water_mcp::mcp_url(addr));
    let client = ().serve(transport).await.expect("client initialises");
    (client, server)
}

async fn call(client: &Client, tool: &'static str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await
        .expect("the call gets a result")
}

fn number(result: &CallToolResult, field: &str) -> f64 {
    result
        .structured_content
        .as_ref()
        .and_then(|content| content[field].as_f64())
        .unwrap_or(f64::NAN)
}

fn first_text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn lists_five_tools_with_schemas() {
    let (client, server) = connect().await;

    let info = client.peer_info().expect("server info after initialise");
    let name = info.server_info.as_ref().map(|server| server.name.as_str());
    assert_eq!(name, Some("water-mcp"));
    let tools = client.list_all_tools().await.expect("tools/list answers");
    let mut names: Vec<_> = tools.iter().map(|tool| tool.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "darcy_weisbach_head_loss",
            "flow_velocity_and_reynolds",
            "hazen_williams_head_loss",
            "pump_power",
            "tank_drain_time",
        ]
    );
    for tool in &tools {
        let properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object);
        assert!(
            properties.is_some_and(|properties| properties.contains_key("flow_m3_per_s")
                || properties.contains_key("tank_area_m2")),
            "{} has no usable input schema",
            tool.name
        );
        assert!(
            tool.output_schema.is_some(),
            "{} has no output schema",
            tool.name
        );
    }

    client.cancel().await.expect("client closes");
    server.abort();
}

#[tokio::test]
async fn computes_hazen_williams_and_pump_power() {
    let (client, server) = connect().await;

    // 100 L/s in 1 km of 300 mm pipe with C = 100: 10.44 m (see the hydraulics tests).
    let head_loss = call(
        &client,
        water_mcp::HAZEN_WILLIAMS,
        json!({"flow_m3_per_s": 0.1, "diameter_m": 0.3, "length_m": 1000, "c_factor": 100}),
    )
    .await;
    // 50 L/s against 30 m at 75 %, water at 20 °C by default: 14 688.5 W and 19 584.7 W.
    let power = call(
        &client,
        water_mcp::PUMP_POWER,
        json!({"flow_m3_per_s": 0.05, "head_m": 30, "efficiency": 0.75}),
    )
    .await;

    assert_eq!(head_loss.is_error, Some(false));
    assert!((number(&head_loss, "head_loss_m") - 10.44).abs() < 0.01);
    assert!(
        first_text(&head_loss).contains("10.44"),
        "{}",
        first_text(&head_loss)
    );
    assert_eq!(power.is_error, Some(false));
    assert!((number(&power, "hydraulic_power_w") - 14_688.5).abs() < 0.1);
    assert!((number(&power, "shaft_power_kw") - 19.5847).abs() < 1e-3);

    client.cancel().await.expect("client closes");
    server.abort();
}

#[tokio::test]
async fn bad_input_is_a_tool_error_not_a_protocol_error() {
    let (client, server) = connect().await;

    let negative = call(
        &client,
        water_mcp::DARCY_WEISBACH,
        json!({"flow_m3_per_s": 0.1, "diameter_m": -0.3, "length_m": 100, "roughness_m": 0.0001}),
    )
    .await;
    let in_millimetres = call(
        &client,
        water_mcp::FLOW_VELOCITY,
        json!({"flow_m3_per_s": 0.1, "diameter_m": 300}),
    )
    .await;
    let missing = call(&client, water_mcp::TANK_DRAIN, json!({"tank_area_m2": 3})).await;

    for result in [&negative, &in_millimetres, &missing] {
        assert_eq!(result.is_error, Some(true), "{result:?}");
    }
    assert!(first_text(&negative).contains("diameter_m must be more than 0"));
    assert!(first_text(&in_millimetres).contains("at most 10 m, got 300 m"));
    assert!(first_text(&missing).contains("initial_depth_m"));
    let unknown = client
        .call_tool(CallToolRequestParams::new("no_such_tool").with_arguments(JsonObject::new()))
        .await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error");

    client.cancel().await.expect("client closes");
    server.abort();
}

#[tokio::test]
async fn serves_clients_of_the_stateless_protocol_too() {
    let (addr, server) = water_mcp::spawn_local().await.expect("server starts");
    let transport = StreamableHttpClientTransport::from_uri(water_mcp::mcp_url(addr));
    let client = ()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover succeeds");

    // Cast-iron main: Re = 422 700, turbulent, f = 0.01987, 6.757 m per km.
    let result = call(
        &client,
        water_mcp::DARCY_WEISBACH,
        json!({"flow_m3_per_s": 0.1, "diameter_m": 0.3, "length_m": 1000, "roughness_m": 0.00026}),
    )
    .await;

    assert_eq!(result.is_error, Some(false));
    let structured = result.structured_content.clone().unwrap_or_default();
    assert_eq!(structured["regime"], json!("turbulent"));
    assert!((number(&result, "friction_factor") - 0.01987).abs() < 2e-5);
    assert!((number(&result, "head_loss_m") - 6.757).abs() < 0.01);

    client.cancel().await.expect("client closes");
    server.abort();
}
