//! The OpenAPI document at `/api/openapi.json` against the router it describes, and the
//! self-contained reference page at `/docs`.

use std::collections::BTreeSet;

use hydronet_saas::app::route_table;
use hydronet_saas::openapi;
use hydronet_saas::routes::Access;
use serde_json::Value;

use crate::helpers::TestApp;

const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

async fn spec(app: &TestApp) -> Value {
    let reply = app.get("/api/openapi.json", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert!(reply.body.is_object(), "not JSON: {}", reply.body);
    reply.body
}

/// Every operation of the document: method (lower case), path, operation.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn operation<'a>(spec: &'a Value, method: &http::Method, path: &str) -> &'a Value {
    &spec["paths"][path][method.as_str().to_ascii_lowercase()]
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_matches_the_router_exactly() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    let version = spec["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert_eq!(spec["info"]["title"], "HydroNet API");

    let routed: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .map(|(m, p, _)| (m.as_str().to_ascii_lowercase(), p.to_owned()))
        .collect();
    let described: BTreeSet<(String, String)> = operations(&spec)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let missing: Vec<_> = routed.difference(&described).collect();
    let extra: Vec<_> = described.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented routes the router lacks: {extra:?}"
    );
}

#[tokio::test]
async fn every_route_has_exactly_one_entry_in_the_table() {
    let coverage = openapi::coverage();
    assert!(
        coverage.undocumented.is_empty(),
        "routes without an entry in the table of src/openapi.rs: {:?}",
        coverage.undocumented
    );
    assert!(
        coverage.stale.is_empty(),
        "table entries matching no route, or repeated: {:?}",
        coverage.stale
    );

    let app = TestApp::new().await;
    let spec = spec(&app).await;
    for (method, path, op) in operations(&spec) {
        assert!(op.get("x-undocumented").is_none(), "{method} {path}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
        assert!(op["tags"][0].is_string(), "{method} {path}");
        let success = op["responses"]
            .as_object()
            .is_some_and(|r| r.keys().any(|status| status.starts_with('2')));
        assert!(success, "{method} {path} describes no success response");
    }
}

#[tokio::test]
async fn every_path_parameter_is_declared() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    for (method, path, op) in operations(&spec) {
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let empty = Vec::new();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{method} {path}: {p}");
                p["name"].as_str().unwrap_or_default()
            })
            .collect();
        assert_eq!(in_path, declared, "{method} {path}");
    }
}

#[tokio::test]
async fn private_operations_name_their_credential_and_permission() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(spec["components"]["schemas"]["Problem"]["properties"]["code"].is_object());

    for (method, path, access) in route_table() {
        let op = operation(&spec, &method, path);
        match access {
            Access::Requires(permission) => {
                assert_eq!(
                    op["security"][0]["bearerAuth"],
                    serde_json::json!([]),
                    "{method} {path}"
                );
                assert_eq!(
                    op["x-required-permission"],
                    permission.as_str(),
                    "{method} {path}"
                );
                for status in ["401", "403", "429"] {
                    let problem = &op["responses"][status]["content"]["application/problem+json"];
                    assert!(problem.is_object(), "{method} {path} lacks {status}");
                }
            }
            Access::Public => {
                assert!(op.get("security").is_none(), "{method} {path}");
                assert!(op.get("x-required-permission").is_none(), "{method} {path}");
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "422"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
}

/// Every `$ref` of the document points at something it defines.
#[tokio::test]
async fn every_reference_resolves() {
    fn walk(spec: &Value, node: &Value, seen: &mut usize) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target.strip_prefix('#').expect("a local reference");
                    assert!(spec.pointer(pointer).is_some(), "dangling $ref {target}");
                    *seen += 1;
                }
                map.values().for_each(|v| walk(spec, v, seen));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(spec, v, seen)),
            _ => {}
        }
    }
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    let mut seen = 0;
    walk(&spec, &spec, &mut seen);
    assert!(seen > 10, "only {seen} references");
}

#[tokio::test]
async fn the_reference_page_is_self_contained_and_locked_down() {
    let app = TestApp::new().await;
    let page = app.get("/docs", None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = page.body.as_str().expect("an HTML page");
    assert!(html.contains("src=\"/docs/app.js\""));
    assert!(html.contains("href=\"/docs/style.css\""));
    assert!(
        !html.contains("<script>"),
        "inline scripts would be blocked by the CSP"
    );

    for (path, media) in [
        ("/docs", "text/html"),
        ("/docs/app.js", "text/javascript"),
        ("/docs/style.css", "text/css"),
    ] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(media),
            "{path}"
        );
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
        let text = reply.body.as_str().expect("text");
        assert!(!text.is_empty(), "{path}");
        for scheme in ["http://", "https://", "//cdn", "@import"] {
            assert!(!text.contains(scheme), "{path} refers to {scheme}");
        }
    }
}
