//! The OpenAPI 3.1 description of the server, built from [`routes::all`](crate::routes::all).
//!
//! The route list decides what is described: every endpoint appears with its method, its
//! path and the parameters named by its `{segments}`, who may call it (anyone, or a bearer
//! token whose holder has a permission — given as `security` and as the
//! `x-required-permission` extension), and the problem responses its layers and body parser
//! can give. What only a person can say — a summary, a tag, the query parameters, the
//! request body and the success response — comes from the table below (`table()`), keyed by
//! method and path.
//!
//! An endpoint without a table entry is still described, under the `Undocumented` tag and
//! marked `x-undocumented: true`; [`coverage`] lists such endpoints, and table entries that
//! match no endpoint, so a test can insist on neither.
//!
//! ```
//! use hydronet_saas::openapi;
//!
//! let document = openapi::document();
//! assert!(document.paths.paths.contains_key("/api/auth/login"));
//! assert!(openapi::coverage().is_complete());
//! ```

mod schemas;

use std::collections::BTreeMap;

use http::Method;
use hydronet_tenancy::rbac::Permission;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Required,
    Response, ResponseBuilder, ResponsesBuilder,
};

use self::schemas::{
    Props, Shape, any, boolean, date, integer, integer_or_null, list, named, number, object,
    one_of, string, string_or_null, success, timestamp, uuid, with_tokens,
};
use crate::app::route_table;
use crate::routes::Access;

/// The media type of JSON bodies.
const JSON: &str = "application/json";
/// The media type of problem bodies.
const PROBLEM: &str = hydronet_core::PROBLEM_JSON;
/// The name of the bearer-token security scheme.
const BEARER: &str = "bearerAuth";
/// The tag of endpoints the table does not describe.
const UNDOCUMENTED: &str = "Undocumented";

/// The document for the current route list.
pub fn document() -> OpenApi {
    let entries = table();
    let mut paths = Paths::new();
    for (method, path, access) in route_table() {
        let entry = entries
            .iter()
            .find(|e| e.method == method && e.path == path);
        paths.add_path_operation(
            path,
            vec![http_method(&method)],
            operation(&method, path, access, entry),
        );
    }
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "An access token (a JWT from `POST /api/auth/login`, `POST /api/auth/register` or \
             `POST /api/auth/refresh`) or an API key (`hnk_…`, from \
             `POST /api/tenant/api-keys`), sent as `Authorization: Bearer <credential>`.",
        ))
        .build();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas::components())
        .security_scheme(BEARER, SecurityScheme::Http(bearer))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("HydroNet API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The multi-tenant AI assistant for water networks. Errors are RFC 9457 \
                     `application/problem+json` bodies with a stable `code`.",
                )),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some(TAGS.iter().map(|(name, about)| {
            TagBuilder::new()
                .name(*name)
                .description(Some(*about))
                .build()
        })))
        .build()
}

/// [`document`] as JSON text.
pub fn to_json() -> String {
    document()
        .to_json()
        .expect("the OpenAPI document always serializes")
}

/// How the table and the route list agree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Endpoints without a table entry, as `METHOD /path`.
    pub undocumented: Vec<String>,
    /// Table entries that match no endpoint, or repeat an earlier entry.
    pub stale: Vec<String>,
}

impl Coverage {
    /// Whether every endpoint has exactly one entry and every entry an endpoint.
    pub fn is_complete(&self) -> bool {
        self.undocumented.is_empty() && self.stale.is_empty()
    }
}

/// Compares the table with the route list.
pub fn coverage() -> Coverage {
    let routes = route_table();
    let entries = table();
    let mut coverage = Coverage::default();
    for (method, path, _) in &routes {
        if !entries
            .iter()
            .any(|e| e.method == method && e.path == *path)
        {
            coverage.undocumented.push(format!("{method} {path}"));
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let routed = routes
            .iter()
            .any(|(m, p, _)| *m == entry.method && *p == entry.path);
        let repeated = entries[..i]
            .iter()
            .any(|e| e.method == entry.method && e.path == entry.path);
        if !routed || repeated {
            coverage
                .stale
                .push(format!("{} {}", entry.method, entry.path));
        }
    }
    coverage
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        Method::TRACE => HttpMethod::Trace,
        _ => HttpMethod::Get,
    }
}

/// `get_api_tenant_users_id_roles` for `GET /api/tenant/users/{id}/roles`.
fn operation_id(method: &Method, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!(
        "{}_{}",
        method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

/// The names of the `{segments}` of a route template.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// One operation: the table's words around what the route list says.
fn operation(method: &Method, path: &str, access: Access, entry: Option<&Entry>) -> Operation {
    let fallback = Entry::new(method.clone(), "", UNDOCUMENTED, "Not yet described.");
    let entry = entry.unwrap_or(&fallback);
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(method, path)))
        .tag(entry.tag)
        .summary(Some(entry.summary));

    let mut about = entry.about.map(str::to_owned).unwrap_or_default();
    let mut extensions = ExtensionsBuilder::new();
    if let Access::Requires(permission) = access {
        op = op.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
        extensions = extensions.add("x-required-permission", permission.as_str());
        if !about.is_empty() {
            about.push_str("\n\n");
        }
        about.push_str(&format!("Requires the `{permission}` permission."));
    }
    if entry.path.is_empty() {
        extensions = extensions.add("x-undocumented", true);
    }
    op = op
        .description((!about.is_empty()).then_some(about))
        .extensions(Some(extensions.build()));

    for name in path_parameters(path) {
        op = op.parameter(path_parameter(name, entry));
    }
    for query in &entry.query {
        op = op.parameter(query.clone());
    }
    if let Some(body) = &entry.body {
        let content = ContentBuilder::new().schema(Some(body.clone())).build();
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content(JSON, content)
            .build();
        op = op.request_body(Some(body));
    }
    op.responses(responses(entry, access)).build()
}

fn path_parameter(name: &str, entry: &Entry) -> Parameter {
    let about = entry
        .params
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("A path parameter.", |(_, about)| about);
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(about))
        .schema(Some(string("")))
        .build()
}

/// The success responses, then every problem the endpoint can answer, by status.
fn responses(entry: &Entry, access: Access) -> ResponsesBuilder {
    let mut problems: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    let mut add =
        |status: u16, text: &str| problems.entry(status).or_default().push(text.to_owned());
    if entry.body.is_some() {
        add(400, "`malformed_json`: the body is not a JSON object.");
        add(413, "`payload_too_large`: the body is larger than 1 MiB.");
    }
    if entry.body.is_some() || !entry.query.is_empty() {
        add(
            422,
            "`validation_failed`: `errors` names each refused field and why.",
        );
    }
    if let Access::Requires(permission) = access {
        add(
            401,
            "`unauthenticated`: no access token, or one that is invalid, expired or revoked.",
        );
        add(403, &forbidden(permission));
        add(
            429,
            "`rate_limited`: over the tenant's or the caller's request rate; see `Retry-After`.",
        );
    }
    for (status, text) in &entry.problems {
        add(*status, text);
    }

    let mut responses = ResponsesBuilder::new();
    for (status, response) in &entry.replies {
        responses = responses.response(status.to_string(), response.clone());
    }
    for (status, texts) in problems {
        responses = responses.response(status.to_string(), problem_response(status, &texts));
    }
    responses.response(
        "default",
        problem_response(
            0,
            &["Any other problem, such as `internal_error` (500) or \
             `service_unavailable` (503)."
                .to_owned()],
        ),
    )
}

fn forbidden(permission: Permission) -> String {
    format!("`forbidden`: the caller's roles do not grant `{permission}`.")
}

fn problem_response(status: u16, texts: &[String]) -> Response {
    let content = ContentBuilder::new().schema(Some(named("Problem"))).build();
    let mut response = ResponseBuilder::new()
        .description(texts.join(" "))
        .content(PROBLEM, content);
    if status == 429 {
        let seconds = HeaderBuilder::new()
            .schema(Some(integer("")))
            .description(Some("Seconds to wait before retrying."))
            .build();
        response = response.header("Retry-After", seconds);
    }
    response.build()
}

/// What the table says about one endpoint.
struct Entry {
    method: Method,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    about: Option<&'static str>,
    params: Vec<(&'static str, &'static str)>,
    query: Vec<Parameter>,
    body: Option<Shape>,
    replies: Vec<(u16, Response)>,
    problems: Vec<(u16, &'static str)>,
}

impl Entry {
    fn new(method: Method, path: &'static str, tag: &'static str, summary: &'static str) -> Self {
        Self {
            method,
            path,
            tag,
            summary,
            about: None,
            params: Vec::new(),
            query: Vec::new(),
            body: None,
            replies: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// A longer description.
    fn about(mut self, text: &'static str) -> Self {
        self.about = Some(text);
        self
    }

    /// Describes the path parameter `{name}`.
    fn param(mut self, name: &'static str, about: &'static str) -> Self {
        self.params.push((name, about));
        self
    }

    /// An optional query parameter.
    fn query(mut self, name: &str, about: &str, shape: impl Into<Shape>) -> Self {
        let parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(about))
            .schema(Some(shape))
            .build();
        self.query.push(parameter);
        self
    }

    /// The JSON request body.
    fn body(mut self, shape: impl Into<Shape>) -> Self {
        self.body = Some(shape.into());
        self
    }

    /// A JSON response.
    fn json(self, status: u16, about: &str, shape: impl Into<Shape>) -> Self {
        let content = ContentBuilder::new().schema(Some(shape)).build();
        let response = ResponseBuilder::new()
            .description(about)
            .content(JSON, content);
        self.reply(status, response.build())
    }

    /// A response of any kind.
    fn reply(mut self, status: u16, response: Response) -> Self {
        self.replies.push((status, response));
        self
    }

    /// A problem the handler itself can answer (the automatic ones are added for it).
    fn problem(mut self, status: u16, about: &'static str) -> Self {
        self.problems.push((status, about));
        self
    }
}

/// The tags, in the order a reader meets them.
const TAGS: [(&str, &str); 14] = [
    ("Health", "Is the service up, and each of its dependencies."),
    ("Auth", "Sign-up, sign-in, sessions and passwords."),
    (
        "Tenant",
        "The caller's own tenant: details, settings, usage.",
    ),
    ("Users", "The users of the caller's tenant."),
    (
        "API keys",
        "Keys for programs, scoped within their creator's permissions.",
    ),
    (
        "Roles",
        "Roles and their permissions; guarded against escalation.",
    ),
    (
        "Chat",
        "Conversations with the assistant, replies plain or streamed.",
    ),
    (
        "Gateway",
        "An OpenAI-compatible API for tenants' own programs.",
    ),
    (
        "MCP",
        "The tenant's MCP tool servers and which tools the assistant may use.",
    ),
    ("Admin", "Service-wide administration across tenants."),
    ("Audit", "The tenant's tamper-evident audit log."),
    ("Docs", "This description and its interactive reference."),
    (
        "Console",
        "The web console: a page and its files, compiled into the server.",
    ),
    (
        "WeChat",
        "A tenant's WeChat official account answered by its assistant.",
    ),
];

/// Shorthand for a table entry.
fn op(method: Method, path: &'static str, tag: &'static str, summary: &'static str) -> Entry {
    Entry::new(method, path, tag, summary)
}

/// THE TABLE: what each endpoint is for and the shape of what it reads and answers, keyed
/// by method and route template. A new endpoint needs an entry here (the API tests say
/// so); paths and JSON field names are a public contract, so describe them exactly.
fn table() -> Vec<Entry> {
    [
        health(),
        auth(),
        tenant(),
        users(),
        keys(),
        roles(),
        chat(),
        gateway(),
        mcp(),
        admin(),
        lifecycle(),
        overview(),
        audit(),
        docs(),
        console(),
        wechat(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn health() -> Vec<Entry> {
    let up = |about| one_of(&["up", "down"], about);
    let checks = object("")
        .field(
            "database",
            object("")
                .field("status", up(""))
                .field("backend", one_of(&["sqlite", "postgres"], "")),
        )
        .field(
            "redis",
            object("").field("status", one_of(&["up", "down", "not_configured"], "")),
        )
        .field(
            "audit",
            object("")
                .field(
                    "lost_events",
                    integer("Audit events that could not be stored."),
                )
                .field(
                    "recovered_events",
                    integer("Events replayed from the spool."),
                ),
        )
        .field(
            "rate_limiter",
            object("")
                .field("mode", one_of(&["local", "shared", "local_fallback"], ""))
                .field("fallback_decisions", integer("")),
        );
    let report: Shape = object("")
        .field(
            "status",
            one_of(
                &["healthy", "degraded", "unhealthy"],
                "`degraded` when only Redis is down.",
            ),
        )
        .field("version", string("The server's version."))
        .field("checks", checks)
        .into();
    let readiness: Shape = object("")
        .field("status", one_of(&["ready", "not_ready"], ""))
        .field("reason", string_or_null("Why not ready."))
        .into();
    vec![
        op(
            Method::GET,
            "/api/health",
            "Health",
            "Health of the service and its dependencies",
        )
        .json(200, "Healthy or degraded.", report.clone())
        .json(503, "Unhealthy: the database is unreachable.", report),
        op(
            Method::GET,
            "/api/health/live",
            "Health",
            "Liveness: the process answers",
        )
        .json(
            200,
            "Alive.",
            object("").field("status", one_of(&["alive"], "")),
        ),
        op(
            Method::GET,
            "/api/health/ready",
            "Health",
            "Readiness, for the load balancer",
        )
        .about("Ready when the database answers and has every migration this build expects.")
        .json(200, "Ready.", readiness.clone())
        .json(503, "Not ready.", readiness),
    ]
}

fn auth() -> Vec<Entry> {
    let signed_in: Shape = with_tokens(object("").field("success", success()))
        .field("user", named("User"))
        .field("tenant", named("Tenant"))
        .into();
    let done: Shape = object("")
        .field("success", success())
        .field("message", string(""))
        .into();
    vec![
        op(Method::POST, "/api/auth/register", "Auth", "Sign a new tenant up")
            .about(
                "Creates a tenant on the free plan with the caller as its owner, and signs them in. \
                 With the header `X-HydroNet-Session: cookie` the refresh token is set as the \
                 `hn_refresh` cookie (`HttpOnly; Secure; SameSite=Strict; Path=/api/auth`) \
                 and left out of the body.",
            )
            .body(
                object("")
                    .field("email", string("The owner's email."))
                    .field("password", string("Per the password policy; not containing the email."))
                    .field("tenant_name", string("The tenant's display name.")),
            )
            .json(201, "Registered and signed in.", signed_in.clone())
            .problem(400, "`password_too_long`: over the policy's maximum length.")
            .problem(409, "`email_taken`: an account with this email exists. `tenant_slug_taken`: retry.")
            .problem(403, "`quota_exceeded`: the plan's user limit."),
        op(Method::POST, "/api/auth/login", "Auth", "Sign in with email and password")
            .about(
                "With the header `X-HydroNet-Session: cookie` the refresh token is set as the \
                 `hn_refresh` cookie (`HttpOnly; Secure; SameSite=Strict; Path=/api/auth`) \
                 and left out of the body.",
            )
            .body(object("").field("email", string("")).field("password", string("")))
            .json(200, "Signed in.", signed_in)
            .problem(400, "`password_too_long`: over the policy's maximum length.")
            .problem(401, "`invalid_credentials`: the email or password is incorrect.")
            .problem(403, "`account_disabled` or `tenant_suspended`.")
            .problem(429, "`rate_limited`: too many attempts on this account or from this address; see `Retry-After`."),
        op(Method::POST, "/api/auth/refresh", "Auth", "Exchange a refresh token for a new pair")
            .about(
                "Each refresh token works once; presenting a spent one revokes its whole session. \
                 With the header `X-HydroNet-Session: cookie` and no `refresh_token` in the body, \
                 the token is read from the `hn_refresh` cookie and the next one is set there \
                 (left out of the body); a refused cookie is cleared.",
            )
            .body(object("").field("refresh_token", string("Optional in the cookie session.")))
            .json(200, "A new token pair.", with_tokens(object("").field("success", success())))
            .problem(401, "`invalid_refresh_token`: invalid, expired or already used."),
        op(Method::POST, "/api/auth/logout", "Auth", "End the caller's session")
            .about("The session's tokens stop working at once; the `hn_refresh` cookie is cleared.")
            .json(200, "Signed out.", done.clone())
            .problem(400, "`no_session`: the credential has no session (an API key)."),
        op(Method::PUT, "/api/auth/change-password", "Auth", "Change the caller's password")
            .about(
                "Every earlier session of the user ends; the response carries a new pair for this \
                 client. With the header `X-HydroNet-Session: cookie` the refresh token is set as \
                 the `hn_refresh` cookie and left out of the body.",
            )
            .body(
                object("")
                    .field("old_password", string("The current password."))
                    .field("new_password", string("Per the password policy; must differ from the old one.")),
            )
            .json(200, "Changed.", with_tokens(object("").field("success", success())).field("message", string("")))
            .problem(400, "`password_too_long`: over the policy's maximum length.")
            .problem(422, "`old_password` is incorrect, or `new_password` is refused by the policy."),
        op(Method::GET, "/api/auth/me", "Auth", "The caller, their tenant and permissions")
            .json(
                200,
                "The caller.",
                object("")
                    .field("success", success())
                    .field("user", named("User"))
                    .field("tenant", named("Tenant"))
                    .field("permissions", list(named("Permission"), "Everything the caller's roles grant, sorted.")),
            ),
        op(Method::POST, "/api/auth/set-password", "Auth", "Set an invited user's first password")
            .body(
                object("")
                    .field("token", string("The `set_password_token` of the invitation."))
                    .field("password", string("Per the password policy.")),
            )
            .json(200, "The user can sign in now.", done)
            .problem(400, "`invalid_token`: the token is invalid, used or expired."),
    ]
}

fn tenant() -> Vec<Entry> {
    let settings: Shape = object("")
        .field("success", success())
        .field("settings", named("TenantSettings"))
        .into();
    let counters: Shape = object("")
        .field("used", integer(""))
        .field("limit", integer(""))
        .field("remaining", integer(""))
        .into();
    let day = object("One UTC day.")
        .field("date", date(""))
        .field("requests", integer("Authenticated API requests."))
        .field("prompt_tokens", integer(""))
        .field("completion_tokens", integer(""))
        .field("tool_calls", integer("MCP tool calls the assistant made."));
    vec![
        op(Method::GET, "/api/tenant/info", "Tenant", "The caller's tenant with its limits and counts")
            .json(
                200,
                "The tenant.",
                object("").field("success", success()).field(
                    "tenant",
                    utoipa::openapi::schema::AllOfBuilder::new()
                        .item(named("Tenant"))
                        .item(
                            object("")
                                .field("limits", named("PlanLimits"))
                                .field("usage", object("").field("users", integer("Current users.")))
                        ),
                ),
            ),
        op(Method::GET, "/api/tenant/settings", "Tenant", "The tenant's name and chat system prompt")
            .json(200, "The settings.", settings.clone()),
        op(Method::PUT, "/api/tenant/settings", "Tenant", "Change the tenant's name or system prompt")
            .about("Absent fields stay as they are; `system_prompt: null` (or blank) returns to the built-in prompt. Audited.")
            .body(
                object("")
                    .optional("name", string("The tenant's display name."))
                    .optional("system_prompt", string_or_null("At most 8000 characters.")),
            )
            .json(200, "The new settings.", settings),
        op(Method::GET, "/api/tenant/usage", "Tenant", "Requests and tokens per day, token budget, limits")
            .query("from", "First day, inclusive; default 29 days before `to`.", date(""))
            .query("to", "Last day, inclusive; default today (UTC). At most 366 days in all.", date(""))
            .json(
                200,
                "The usage report.",
                object("")
                    .field("success", success())
                    .field("from", date(""))
                    .field("to", date(""))
                    .field("days", list(day, "Every day of the range, oldest first."))
                    .field("budget", object("LLM tokens.").field("day", counters.clone()).field("month", counters))
                    .field("plan", one_of(&["free", "pro", "enterprise"], ""))
                    .field("limits", named("PlanLimits"))
                    .field(
                        "in_use",
                        object("What the tenant holds now against its `max_*` limits.")
                            .field("users", integer(""))
                            .field("conversations", integer(""))
                            .field("mcp_servers", integer("")),
                    ),
            ),
    ]
}

fn page_query(entry: Entry, default: u32, max: u32, about: &'static str) -> Entry {
    entry
        .query(
            "cursor",
            "The `next_cursor` of the previous page.",
            string(""),
        )
        .query(
            "limit",
            about,
            integer("")
                .minimum(Some(1))
                .maximum(Some(max))
                .default(Some(default.into())),
        )
}

fn users() -> Vec<Entry> {
    let one: Shape = object("")
        .field("success", success())
        .field("user", named("User"))
        .into();
    let guarded = "`cannot_act_on_self`, or `owner_required`: only an owner acts on an owner.";
    vec![
        page_query(
            op(Method::GET, "/api/tenant/users", "Users", "List the tenant's users")
                .query("search", "Part of the email, case-insensitive.", string("")),
            50,
            200,
            "Page size, 1 to 200 (default 50).",
        )
        .json(
            200,
            "A page of users, by id.",
            object("")
                .field("success", success())
                .field("users", list(named("User"), ""))
                .field("next_cursor", string_or_null("`null` on the last page.")),
        ),
        op(Method::POST, "/api/tenant/users", "Users", "Create a user, with a password or invited")
            .about("Without a `password` the user is `invited` and the response carries a one-time set-password token, valid 7 days, shown only here.")
            .body(
                object("")
                    .field("email", string(""))
                    .field("role", string("A role of the tenant."))
                    .optional("password", string("Per the password policy.")),
            )
            .json(
                201,
                "Created.",
                object("")
                    .field("success", success())
                    .field("user", named("User"))
                    .optional("set_password_token", string("For `POST /api/auth/set-password`."))
                    .optional("set_password_expires_at", timestamp("")),
            )
            .problem(403, "`privilege_escalation`: the role grants what the caller does not hold. `quota_exceeded`: the plan's user limit.")
            .problem(409, "`email_taken`."),
        op(Method::POST, "/api/tenant/users/{id}/disable", "Users", "Disable a user; their tokens stop at once")
            .param("id", "The user's id.")
            .json(200, "Disabled.", one.clone())
            .problem(403, guarded)
            .problem(404, "`not_found`: no such user in this tenant."),
        op(Method::POST, "/api/tenant/users/{id}/enable", "Users", "Re-enable a user")
            .param("id", "The user's id.")
            .json(200, "Enabled.", one)
            .problem(403, guarded)
            .problem(404, "`not_found`: no such user in this tenant."),
        op(Method::DELETE, "/api/tenant/users/{id}", "Users", "Delete a user; their tokens stop at once")
            .param("id", "The user's id.")
            .json(200, "Deleted.", object("").field("success", success()))
            .problem(403, guarded)
            .problem(404, "`not_found`: no such user in this tenant."),
    ]
}

fn roles() -> Vec<Entry> {
    let one: Shape = object("")
        .field("success", success())
        .field("role", named("Role"))
        .into();
    let permissions: Shape = object("")
        .field("permissions", list(named("Permission"), "At least one."))
        .into();
    let escalation = "`privilege_escalation`: a permission the caller does not hold.";
    vec![
        op(Method::GET, "/api/tenant/roles", "Roles", "Built-in and custom roles with their permissions")
            .json(
                200,
                "The roles.",
                object("")
                    .field("success", success())
                    .field("roles", list(named("Role"), ""))
                    .field("available_permissions", list(named("Permission"), "Every permission there is.")),
            ),
        op(Method::POST, "/api/tenant/roles/{name}", "Roles", "Create a custom role")
            .param("name", "2 to 32 of a-z, 0-9, `_` and `-`, starting with a letter.")
            .body(permissions.clone())
            .json(201, "Created.", one.clone())
            .problem(403, escalation)
            .problem(409, "`role_exists`."),
        op(Method::PUT, "/api/tenant/roles/{name}", "Roles", "Replace a custom role's permissions")
            .param("name", "The custom role.")
            .body(permissions)
            .json(200, "Changed.", one)
            .problem(403, escalation)
            .problem(404, "`not_found`: no such role.")
            .problem(409, "`builtin_role`: built-in roles cannot be changed."),
        op(Method::DELETE, "/api/tenant/roles/{name}", "Roles", "Delete an unused custom role")
            .param("name", "The custom role.")
            .json(200, "Deleted.", object("").field("success", success()))
            .problem(404, "`not_found`: no such role.")
            .problem(409, "`builtin_role`, or `role_in_use`: users still hold it."),
        op(Method::PUT, "/api/tenant/users/{id}/roles", "Roles", "Give a user exactly these roles")
            .param("id", "The user's id.")
            .body(object("").field("roles", list(string(""), "Role names of the tenant.")))
            .json(
                200,
                "Assigned.",
                object("")
                    .field("success", success())
                    .field("user_id", uuid(""))
                    .field("roles", list(string(""), "Sorted, without repeats.")),
            )
            .problem(403, "`cannot_change_own_roles`, `owner_required` (only an owner makes or unmakes an owner), or `privilege_escalation`.")
            .problem(404, "`not_found`: no such user in this tenant.")
            .problem(409, "`last_owner`: the last owner cannot be demoted."),
    ]
}

fn chat() -> Vec<Entry> {
    let one: Shape = object("")
        .field("success", success())
        .field("conversation", named("Conversation"))
        .into();
    let missing = "`not_found`: no such conversation of the caller.";
    let events = string(
        "Server-Sent Events: a `tool` event `{name}` per MCP tool the assistant called (when \
         tools are on, the reply then comes as one `delta`), `delta` events `{content}`, then \
         `done` `{message_id, usage}`, or `error` `{code, detail, status}`.",
    );
    let stream = ResponseBuilder::new()
        .description(
            "The reply: JSON, or a stream when `stream` is true or `Accept: text/event-stream`.",
        )
        .content(
            JSON,
            ContentBuilder::new()
                .schema(Some(
                    object("")
                        .field("success", success())
                        .field(
                            "message",
                            object("The stored reply.")
                                .field("id", string(""))
                                .field("role", one_of(&["assistant"], ""))
                                .field("content", string("")),
                        )
                        .field("usage", named("Usage"))
                        .field(
                            "tool_calls",
                            list(string(""), "The names of the MCP tools called, in order."),
                        ),
                ))
                .build(),
        )
        .content(
            "text/event-stream",
            ContentBuilder::new().schema(Some(events)).build(),
        )
        .build();
    vec![
        op(Method::POST, "/api/chat/conversations", "Chat", "Start a conversation")
            .body(object("").optional("title", string("At most 200 characters; default `New conversation`.")))
            .json(201, "Created.", one.clone())
            .problem(403, "`quota_exceeded`: the plan's conversation limit."),
        page_query(
            op(Method::GET, "/api/chat/conversations", "Chat", "The caller's conversations, newest first"),
            20,
            100,
            "Page size, 1 to 100 (default 20).",
        )
        .json(
            200,
            "A page of conversations.",
            object("")
                .field("success", success())
                .field("conversations", list(named("Conversation"), ""))
                .field("next_cursor", string_or_null("`null` on the last page.")),
        ),
        op(Method::GET, "/api/chat/conversations/{id}", "Chat", "A conversation with its messages")
            .param("id", "The conversation's id.")
            .json(
                200,
                "The conversation.",
                object("").field("success", success()).field(
                    "conversation",
                    utoipa::openapi::schema::AllOfBuilder::new()
                        .item(named("Conversation"))
                        .item(object("").field("messages", list(named("Message"), "Oldest first."))),
                ),
            )
            .problem(404, missing),
        op(Method::PATCH, "/api/chat/conversations/{id}", "Chat", "Rename a conversation")
            .param("id", "The conversation's id.")
            .body(object("").field("title", string("1 to 200 characters.")))
            .json(200, "Renamed.", one)
            .problem(404, missing),
        op(Method::DELETE, "/api/chat/conversations/{id}", "Chat", "Delete a conversation")
            .param("id", "The conversation's id.")
            .json(200, "Deleted.", object("").field("success", success()))
            .problem(404, missing),
        op(Method::POST, "/api/chat/conversations/{id}/messages", "Chat", "Send a message; the assistant replies")
            .about("The reply is metered against the tenant's token budget. A failed model call stores no reply.")
            .param("id", "The conversation's id.")
            .body(
                object("")
                    .field("message", string("1 to 32000 characters."))
                    .optional("stream", boolean("Stream the reply as Server-Sent Events.")),
            )
            .reply(200, stream)
            .problem(403, "`quota_exceeded`: the tenant's token budget is used up.")
            .problem(404, missing)
            .problem(502, "`upstream_error`: the model could not answer.")
            .problem(504, "`upstream_timeout`: the model did not answer in time."),
    ]
}

fn gateway() -> Vec<Entry> {
    let request =
        object("An OpenAI chat completion request; other parameters pass through to the model.")
            .optional(
                "model",
                string("Ignored by some providers; the configured model answers."),
            )
            .field("messages", list(named("ChatMessage"), "At least one."))
            .optional(
                "max_tokens",
                integer("Default: the server's configured maximum."),
            )
            .optional("temperature", number(""))
            .optional("tools", list(any("A tool definition."), ""))
            .optional(
                "stream",
                boolean("Stream `chat.completion.chunk` events, then `[DONE]`."),
            )
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
            ));
    let choice = object("")
        .field("index", integer(""))
        .field("message", named("ChatMessage"))
        .field("finish_reason", string_or_null(""));
    let completion = object("")
        .field("id", string(""))
        .field("object", one_of(&["chat.completion"], ""))
        .field("created", integer("Unix seconds."))
        .field("model", string(""))
        .field("choices", list(choice, ""))
        .field("usage", named("Usage"));
    let reply = ResponseBuilder::new()
        .description("The completion; or, with `stream: true`, its chunks as Server-Sent Events.")
        .content(JSON, ContentBuilder::new().schema(Some(completion)).build())
        .content(
            "text/event-stream",
            ContentBuilder::new()
                .schema(Some(string("`data:` lines of `chat.completion.chunk` objects, a usage chunk, then `[DONE]`.")))
                .build(),
        )
        .build();
    let model = object("")
        .field("id", string(""))
        .field("object", one_of(&["model"], ""))
        .field("owned_by", string(""));
    vec![
        op(
            Method::POST,
            "/v1/chat/completions",
            "Gateway",
            "OpenAI-compatible chat completion",
        )
        .about(
            "For OpenAI SDKs and tools, with the tenant's credentials, quotas, metering and audit.",
        )
        .body(request)
        .reply(200, reply)
        .problem(
            403,
            "`quota_exceeded`: the tenant's token budget is used up.",
        )
        .problem(502, "`upstream_error`: the model could not answer.")
        .problem(504, "`upstream_timeout`: the model did not answer in time."),
        op(
            Method::GET,
            "/v1/models",
            "Gateway",
            "The models the gateway offers",
        )
        .json(
            200,
            "The configured model.",
            object("")
                .field("object", one_of(&["list"], ""))
                .field("data", list(model, "")),
        ),
    ]
}

fn admin() -> Vec<Entry> {
    let limits: Shape = object("")
        .field("success", success())
        .field("tenant_id", uuid(""))
        .field("plan", one_of(&["free", "pro", "enterprise"], ""))
        .field("overrides", named("LimitOverrides"))
        .field("limits", named("PlanLimits"))
        .into();
    let missing = "`not_found`: no such tenant.";
    let details = object("")
        .field(
            "counts",
            object("")
                .field("users", integer(""))
                .field("conversations", integer("")),
        )
        .field(
            "tokens",
            object("LLM tokens used.")
                .field("today", integer(""))
                .field("this_month", integer("")),
        )
        .field("limits", named("PlanLimits"))
        .field("overrides", named("LimitOverrides"));
    vec![
        page_query(
            op(
                Method::GET,
                "/api/admin/tenants",
                "Admin",
                "List every tenant",
            )
            .query(
                "search",
                "Part of the name or slug, case-insensitive.",
                string(""),
            ),
            50,
            200,
            "Page size, 1 to 200 (default 50).",
        )
        .json(
            200,
            "A page of tenants, by id.",
            object("")
                .field("success", success())
                .field("tenants", list(named("Tenant"), ""))
                .field("next_cursor", string_or_null("`null` on the last page.")),
        ),
        op(
            Method::GET,
            "/api/admin/tenants/{id}",
            "Admin",
            "One tenant with its counts, token use and limits",
        )
        .param("id", "The tenant's id.")
        .json(
            200,
            "The tenant.",
            object("").field("success", success()).field(
                "tenant",
                utoipa::openapi::schema::AllOfBuilder::new()
                    .item(named("Tenant"))
                    .item(details),
            ),
        )
        .problem(404, missing),
        op(
            Method::GET,
            "/api/admin/tenants/{id}/limits",
            "Admin",
            "A tenant's limit overrides and effective limits",
        )
        .about("Audited as a sensitive read.")
        .param("id", "The tenant's id.")
        .json(200, "The limits.", limits.clone())
        .problem(404, missing),
        op(
            Method::PUT,
            "/api/admin/tenants/{id}/limits",
            "Admin",
            "Replace a tenant's limit overrides",
        )
        .about("`{}` returns the tenant to its plan's limits. Audited.")
        .param("id", "The tenant's id.")
        .body(named("LimitOverrides"))
        .json(200, "The new limits.", limits)
        .problem(404, missing),
    ]
}

fn keys() -> Vec<Entry> {
    let key: Shape = object("An API key; never its secret.")
        .field("id", uuid(""))
        .field("name", string(""))
        .field(
            "prefix",
            string("The key's first characters, to recognise it."),
        )
        .field("user_id", uuid("The user the key acts for: its creator."))
        .field("scopes", list(named("Permission"), ""))
        .field("status", one_of(&["active", "expired", "revoked"], ""))
        .field("created_at", timestamp(""))
        .field("expires_at", string_or_null("`null`: never expires."))
        .field("last_used_at", string_or_null("To the minute."))
        .field("revoked_at", string_or_null(""))
        .into();
    vec![
        page_query(
            op(
                Method::GET,
                "/api/tenant/api-keys",
                "API keys",
                "List the tenant's API keys",
            ),
            50,
            200,
            "Page size, 1 to 200 (default 50).",
        )
        .json(
            200,
            "A page of keys, by id.",
            object("")
                .field("success", success())
                .field("api_keys", list(key.clone(), ""))
                .field("next_cursor", string_or_null("`null` on the last page.")),
        ),
        op(
            Method::POST,
            "/api/tenant/api-keys",
            "API keys",
            "Create an API key",
        )
        .about(
            "The key acts for its creator, limited to `scopes`, which must be permissions \
                 the creator holds (403 `privilege_escalation` otherwise). The secret is in \
                 `key`, shown this once; it is stored only as a digest. Audited.",
        )
        .body(
            object("")
                .field("name", string("1 to 100 characters."))
                .field("scopes", list(named("Permission"), "At least one."))
                .optional("expires_in_days", integer("1 to 3650; absent: no expiry.")),
        )
        .json(
            201,
            "The key, with its secret.",
            object("")
                .field("success", success())
                .field("api_key", key.clone())
                .field("key", string("The secret, `hnk_…`; shown only now.")),
        )
        .problem(
            403,
            "`privilege_escalation`: a scope the creator does not hold.",
        ),
        op(
            Method::DELETE,
            "/api/tenant/api-keys/{id}",
            "API keys",
            "Revoke an API key",
        )
        .about("The key is refused from the next request on. Audited.")
        .param("id", "The key's id.")
        .json(
            200,
            "The revoked key.",
            object("").field("success", success()).field("api_key", key),
        )
        .problem(404, "`not_found`: no such key in this tenant."),
    ]
}

fn mcp() -> Vec<Entry> {
    let tool = object("A tool as the server listed it, with the tenant's settings.")
        .field("name", string(""))
        .field("description", string_or_null(""))
        .field("input_schema", object("JSON Schema of the arguments."))
        .field("enabled", boolean("Offered to the model."))
        .field(
            "roles",
            list(
                string(""),
                "Only these roles; empty: everyone who may chat.",
            ),
        );
    let server: Shape = object("An MCP server; never its authorization value.")
        .field("id", uuid(""))
        .field("name", string("Prefixes its tools' names for the model."))
        .field("url", string("The streamable-HTTP endpoint."))
        .field("has_authorization", boolean(""))
        .field("enabled", boolean(""))
        .field(
            "status",
            one_of(
                &["pending", "active", "paused", "error"],
                "`paused`: the tool list changed and awaits approval.",
            ),
        )
        .field("tools", list(tool, ""))
        .field(
            "tools_digest",
            string_or_null("Digest of the tool list as last listed."),
        )
        .field(
            "approved_digest",
            string_or_null("The digest an administrator approved."),
        )
        .field("last_error", string_or_null("Why the last listing failed."))
        .field("created_at", timestamp(""))
        .field("updated_at", timestamp(""))
        .into();
    let one: Shape = object("")
        .field("success", success())
        .field("server", server.clone())
        .into();
    let missing = "`not_found`: no such server in this tenant.";
    let setting = object("")
        .optional("enabled", boolean(""))
        .optional("roles", list(string(""), ""));
    vec![
        op(Method::GET, "/api/tenant/mcp-servers", "MCP", "List the tenant's MCP servers")
            .json(
                200,
                "The servers, by name.",
                object("")
                    .field("success", success())
                    .field("servers", list(server, "")),
            ),
        op(Method::POST, "/api/tenant/mcp-servers", "MCP", "Register an MCP server")
            .about(
                "The URL must be http or https and resolve only to addresses the egress policy \
                 allows (public ones unless `HYDRONET_MCP_ALLOW` widens it). The server's tools \
                 are listed at once; this first list is approved, every tool starts disabled. \
                 `authorization` is sealed at rest and never returned. Counted against the plan. Audited.",
            )
            .body(
                object("")
                    .field("name", string("1 to 32 lowercase letters, digits, '-' or '_'."))
                    .field("url", string(""))
                    .optional("authorization", string_or_null("Sent as the Authorization header to this server only."))
                    .optional("enabled", boolean("Default true.")),
            )
            .json(201, "The server.", one.clone())
            .problem(403, "`quota_exceeded`: the plan's MCP servers are all taken.")
            .problem(409, "`name_taken`."),
        op(Method::GET, "/api/tenant/mcp-servers/{id}", "MCP", "One MCP server with its tools")
            .param("id", "The server's id.")
            .json(200, "The server.", one.clone())
            .problem(404, missing),
        op(Method::PATCH, "/api/tenant/mcp-servers/{id}", "MCP", "Change an MCP server")
            .about("A new URL or authorization needs `…/refresh` before its tools are offered again; a new URL also needs approval. Audited.")
            .param("id", "The server's id.")
            .body(
                object("")
                    .optional("name", string(""))
                    .optional("url", string(""))
                    .optional("authorization", string_or_null("`null` removes it."))
                    .optional("enabled", boolean("")),
            )
            .json(200, "The server.", one.clone())
            .problem(404, missing)
            .problem(409, "`name_taken`."),
        op(Method::DELETE, "/api/tenant/mcp-servers/{id}", "MCP", "Remove an MCP server")
            .param("id", "The server's id.")
            .json(
                200,
                "Removed.",
                object("").field("success", success()).field("deleted", uuid("")),
            )
            .problem(404, missing),
        op(Method::POST, "/api/tenant/mcp-servers/{id}/refresh", "MCP", "List a server's tools again")
            .about("A list that differs from the approved one pauses the server until `…/approve`. Audited when it changed.")
            .param("id", "The server's id.")
            .json(200, "The server.", one.clone())
            .problem(404, missing),
        op(Method::POST, "/api/tenant/mcp-servers/{id}/approve", "MCP", "Approve a server's tool list")
            .about("Approves the list with exactly this digest, the one the administrator reviewed. Audited.")
            .param("id", "The server's id.")
            .body(object("").field("tools_digest", string("")))
            .json(200, "The server, active again.", one.clone())
            .problem(404, missing)
            .problem(409, "`digest_mismatch`: the list changed since it was reviewed."),
        op(Method::PUT, "/api/tenant/mcp-servers/{id}/tools", "MCP", "Choose the tools the assistant may use")
            .about("Replaces the per-tool settings; tools not named are disabled. Audited.")
            .param("id", "The server's id.")
            .body(object("").field(
                "tools",
                utoipa::openapi::schema::ObjectBuilder::new()
                    .additional_properties(Some(setting))
                    .description(Some("Tool name to its settings.")),
            ))
            .json(200, "The server.", one)
            .problem(404, missing),
    ]
}

fn lifecycle() -> Vec<Entry> {
    let tenant: Shape = object("")
        .field("success", success())
        .field("tenant", named("Tenant"))
        .into();
    let missing = "`not_found`: no such tenant.";
    let own = "`own_tenant`: the operator's own tenant.";
    vec![
        op(Method::PUT, "/api/admin/tenants/{id}/plan", "Admin", "Change a tenant's plan")
            .about("Applies from the tenant's next request, to credentials issued before too. Audited.")
            .param("id", "The tenant's id.")
            .body(object("").field("plan", one_of(&["free", "pro", "enterprise"], "")))
            .json(200, "The tenant.", tenant.clone())
            .problem(404, missing)
            .problem(409, own),
        op(Method::POST, "/api/admin/tenants/{id}/suspend", "Admin", "Suspend a tenant")
            .about("Every request of the tenant, on every instance, gets 403 `tenant_suspended` from the next one on; nobody of it can log in. Audited.")
            .param("id", "The tenant's id.")
            .json(200, "The tenant.", tenant.clone())
            .problem(404, missing)
            .problem(409, own),
        op(Method::POST, "/api/admin/tenants/{id}/reactivate", "Admin", "Reactivate a suspended tenant")
            .param("id", "The tenant's id.")
            .json(200, "The tenant.", tenant)
            .problem(404, missing)
            .problem(409, own),
        op(Method::GET, "/api/admin/tenants/{id}/export", "Admin", "Export a tenant's data as JSON Lines")
            .about("`application/x-ndjson`, one `{\"table\", \"row\"}` object per line; password hashes and key digests are left out. An export of a suspended tenant allows its deletion. Audited.")
            .param("id", "The tenant's id.")
            .reply(
                200,
                ResponseBuilder::new()
                    .description("The tenant's rows.")
                    .content(
                        "application/x-ndjson",
                        ContentBuilder::new().schema(Some(string("JSON Lines."))).build(),
                    )
                    .build(),
            )
            .problem(404, missing)
            .problem(409, own),
        op(Method::DELETE, "/api/admin/tenants/{id}", "Admin", "Delete a tenant")
            .about("Removes everything the tenant owns but its audit log, leaving a tombstone with status `deleted`. The tenant must be suspended and exported after its last change. Audited.")
            .param("id", "The tenant's id.")
            .json(
                200,
                "Deleted.",
                object("").field("success", success()).field("deleted", uuid("The tenant's id.")),
            )
            .problem(404, missing)
            .problem(409, "`own_tenant`, `tenant_not_suspended` or `export_required`."),
    ]
}

fn overview() -> Vec<Entry> {
    let day = object("One UTC day, across every tenant.")
        .field("date", date(""))
        .field("new_tenants", integer(""))
        .field("new_users", integer(""))
        .field(
            "active_tenants",
            integer("Tenants with any request that day."),
        )
        .field("requests", integer(""))
        .field("prompt_tokens", integer(""))
        .field("completion_tokens", integer(""))
        .field("total_tokens", integer(""));
    vec![
        op(
            Method::GET,
            "/api/admin/overview",
            "Admin",
            "The whole service per day",
        )
        .about("Read from the daily usage counters, not from messages.")
        .query(
            "from",
            "First day, inclusive; default 29 days before `to`.",
            date(""),
        )
        .query(
            "to",
            "Last day, inclusive; default today (UTC). At most 366 days in all.",
            date(""),
        )
        .json(
            200,
            "The overview.",
            object("")
                .field("success", success())
                .field("from", date(""))
                .field("to", date(""))
                .field(
                    "totals",
                    object("")
                        .field("tenants", integer("Not counting deleted ones."))
                        .field("tenants_by_status", object("Status to count."))
                        .field("users", integer("")),
                )
                .field("days", list(day, "Every day of the range, oldest first.")),
        ),
    ]
}

fn audit() -> Vec<Entry> {
    let page = object("")
        .field("success", success())
        .field("events", list(named("AuditEvent"), "Newest first."))
        .field("next_cursor", integer_or_null("`null` on the last page."));
    let reply = ResponseBuilder::new()
        .description(
            "A page as JSON, or the whole selection (up to 100000 events) as JSON Lines or CSV.",
        )
        .content(JSON, ContentBuilder::new().schema(Some(page)).build())
        .content(
            "application/x-ndjson",
            ContentBuilder::new()
                .schema(Some(string("One `AuditEvent` per line.")))
                .build(),
        )
        .content(
            "text/csv",
            ContentBuilder::new()
                .schema(Some(string(
                    "Columns: seq, id, time_ms, tenant_id, actor_type, actor_id, token_id, action, \
                     target, outcome, request_id, client_addr, user_agent, details.",
                )))
                .build(),
        )
        .build();
    let time = "Unix milliseconds or RFC 3339.";
    vec![
        op(
            Method::GET,
            "/api/admin/audit-logs",
            "Audit",
            "The tenant's audit log, filtered and paged",
        )
        .about("Audited as a sensitive read. The format comes from `format`, else from `Accept`.")
        .query(
            "format",
            "`json` (default), `jsonl` (or `ndjson`) or `csv`.",
            one_of(&["json", "jsonl", "ndjson", "csv"], ""),
        )
        .query(
            "tenant_id",
            "Another tenant's log: system administrators only.",
            uuid(""),
        )
        .query(
            "action",
            "Actions starting with this, such as `role.`.",
            string(""),
        )
        .query("actor", "The acting user's or API key's id.", string(""))
        .query("outcome", "", one_of(&["success", "denied", "failed"], ""))
        .query("from", time, string(""))
        .query("to", time, string(""))
        .query(
            "cursor",
            "The `next_cursor` of the previous page.",
            integer(""),
        )
        .query(
            "limit",
            "Page size, 1 to 500 (default 50).",
            integer("")
                .minimum(Some(1))
                .maximum(Some(500))
                .default(Some(50.into())),
        )
        .reply(200, reply),
    ]
}

fn console() -> Vec<Entry> {
    let file = |media: &str, about: &str| {
        ResponseBuilder::new()
            .description(about)
            .header(
                "ETag",
                HeaderBuilder::new()
                    .schema(Some(string("")))
                    .description(Some(
                        "Changes when the file does; send it back as `If-None-Match`.",
                    ))
                    .build(),
            )
            .content(
                media,
                ContentBuilder::new().schema(Some(string(""))).build(),
            )
            .build()
    };
    vec![
        op(Method::GET, "/", "Console", "The web console")
            .about(
                "A page for people: sign-up and sign-in, chat, usage and administration. \
                 Served with a Content-Security-Policy allowing same-origin scripts and styles \
                 only.",
            )
            .reply(200, file("text/html", "The page."))
            .reply(
                304,
                ResponseBuilder::new()
                    .description("The client's copy is current.")
                    .build(),
            ),
        op(
            Method::GET,
            "/console/{file}",
            "Console",
            "One of the console's files",
        )
        .param("file", "A file name such as `app.js` or `style.css`.")
        .reply(
            200,
            file(
                "text/javascript",
                "A script, style sheet or icon, by its name.",
            ),
        )
        .reply(
            304,
            ResponseBuilder::new()
                .description("The client's copy is current.")
                .build(),
        )
        .problem(404, "`not_found`: no such file."),
    ]
}

fn docs() -> Vec<Entry> {
    let text = |media: &str, about: &str| {
        ResponseBuilder::new()
            .description(about)
            .content(
                media,
                ContentBuilder::new().schema(Some(string(""))).build(),
            )
            .build()
    };
    vec![
        op(
            Method::GET,
            "/api/openapi.json",
            "Docs",
            "This OpenAPI 3.1 document",
        )
        .json(200, "The document.", object("An OpenAPI 3.1 document.")),
        op(
            Method::GET,
            "/docs",
            "Docs",
            "The interactive API reference",
        )
        .reply(
            200,
            text(
                "text/html",
                "A page that reads this document; it loads nothing from other hosts.",
            ),
        ),
        op(
            Method::GET,
            "/docs/app.js",
            "Docs",
            "The reference page's script",
        )
        .reply(200, text("text/javascript", "The script.")),
        op(
            Method::GET,
            "/docs/style.css",
            "Docs",
            "The reference page's style sheet",
        )
        .reply(200, text("text/css", "The style sheet.")),
        op(Method::GET, "/metrics", "Health", "Prometheus metrics")
            .about(
                "Served here only when `HYDRONET_METRICS_TOKEN` is set, to requests with \
                 `Authorization: Bearer <that token>`; otherwise 404 (metrics may be on the \
                 separate `HYDRONET_METRICS_BIND` address instead).",
            )
            .reply(
                200,
                text("text/plain", "The Prometheus text exposition format."),
            )
            .problem(401, "`unauthenticated`: a missing or wrong metrics token.")
            .problem(404, "`not_found`: metrics are not served on this address."),
    ]
}

fn wechat() -> Vec<Entry> {
    let settings = object("Never a secret: only whether each is set.")
        .field("channel_enabled", boolean("False when `WECHAT_ENABLED=false` switches the channel off server-wide."))
        .field("callback_path", string("The URL path to give WeChat: `/wechat/<slug>` (the tenant id works too)."))
        .field("configured", boolean(""))
        .field("source", one_of(&["tenant", "environment"], "Saved by the tenant, or the server's `WECHAT_*` variables (the tenant named by `HYDRONET_WECHAT_TENANT`, until it saves its own); null when not configured."))
        .field("app_id", string_or_null(""))
        .field("enabled", boolean(""))
        .field("token_set", boolean(""))
        .field("app_secret_set", boolean(""))
        .field("encoding_aes_key_set", boolean(""))
        .field("updated_at", timestamp("Null unless saved by the tenant."));
    let reply: Shape = object("")
        .field("success", success())
        .field("wechat", settings)
        .into();
    let xml = |about: &str| {
        ResponseBuilder::new()
            .description(about)
            .content(
                "application/xml",
                ContentBuilder::new().schema(Some(string(""))).build(),
            )
            .build()
    };
    let text = |about: &str| {
        ResponseBuilder::new()
            .description(about)
            .content(
                "text/plain",
                ContentBuilder::new().schema(Some(string(""))).build(),
            )
            .build()
    };
    let callback = "/wechat/{tenant}";
    vec![
        op(Method::GET, "/api/tenant/wechat", "WeChat", "The tenant's WeChat account settings")
            .json(200, "The settings, without secrets.", reply.clone()),
        op(Method::PUT, "/api/tenant/wechat", "WeChat", "Configure the tenant's WeChat account")
            .about("The first time `app_id`, `token` and `app_secret` are required; later an absent secret is kept. Secrets are sealed at rest and never returned. `encoding_aes_key: null` removes the key of the encrypted mode. Audited as `wechat.settings_changed`, without secrets.")
            .body(
                object("")
                    .optional("app_id", string("The official account's AppID."))
                    .optional("token", string("The callback token: 3 to 32 letters or digits."))
                    .optional("app_secret", string("The AppSecret, for the customer-service API."))
                    .optional("encoding_aes_key", string_or_null("The 43-character EncodingAESKey of the encrypted mode."))
                    .optional("enabled", boolean("Default true.")),
            )
            .json(200, "The new settings.", reply),
        op(Method::GET, callback, "WeChat", "WeChat's check of the callback URL")
            .about("Called by WeChat with `signature`, `timestamp`, `nonce` and `echostr` in the query; `signature` is the SHA-1 of the sorted token, timestamp and nonce. A valid call echoes `echostr`.")
            .param("tenant", "The tenant's slug or id.")
            .reply(200, text("`echostr`, unchanged."))
            .problem(401, "`invalid_signature`: the signature does not match; `stale_request`: the timestamp is more than 5 minutes away.")
            .problem(404, "`not_found`: no such tenant, no enabled account, or the channel is off."),
        op(Method::POST, callback, "WeChat", "A message from a WeChat user")
            .about("WeChat's message XML (at most 64 KiB; no DTD or entities). Query: `signature`, `timestamp`, `nonce`; in the encrypted mode also `encrypt_type=aes` and `msg_signature` (SHA-1 of the sorted token, timestamp, nonce and `Encrypt`). A text message is answered by the assistant in the sender's own conversation: in a passive XML reply (encrypted in the encrypted mode) when ready within about 4.5 seconds, otherwise `success` now and the answer through WeChat's customer-service API. A retried delivery (same `MsgId`) is answered `success` and never asked twice.")
            .param("tenant", "The tenant's slug or id.")
            .reply(200, xml("A passive reply, or the text `success`."))
            .problem(400, "`invalid_message`: malformed XML, a DTD or entity, a missing field, or an encrypted message that does not decrypt.")
            .problem(401, "`invalid_signature`: a signature does not match; `stale_request`: the timestamp is more than 5 minutes away.")
            .problem(404, "`not_found`: no such tenant, no enabled account, or the channel is off.")
            .problem(413, "`payload_too_large`: the body is larger than 64 KiB."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_method_and_path() {
        assert_eq!(
            operation_id(&Method::PUT, "/api/tenant/users/{id}/roles"),
            "put_api_tenant_users_id_roles"
        );
    }

    #[test]
    fn path_parameters_are_the_braced_segments() {
        let names: Vec<&str> = path_parameters("/api/tenant/roles/{name}/x/{id}").collect();
        assert_eq!(names, ["name", "id"]);
    }

    #[test]
    fn a_route_without_an_entry_is_marked_undocumented() {
        let op = operation(&Method::GET, "/nowhere", Access::Public, None);
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["x-undocumented"], true);
        assert_eq!(json["tags"][0], UNDOCUMENTED);
    }
}
