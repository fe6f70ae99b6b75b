//! JSON Schema (the OpenAPI 3.1 dialect) for the API's bodies: a handful of constructors
//! and the shared shapes that operations name by `$ref`.
//!
//! The handlers build their JSON by hand, so these schemas are written by hand too; each
//! component says which code produces the shape it describes.

use hydronet_tenancy::rbac::Permission;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Ref, Schema, SchemaFormat,
    SchemaType, Type,
};

/// A schema, inline or by reference.
pub(crate) type Shape = RefOr<Schema>;

fn typed(kind: impl Into<SchemaType>, description: &str) -> ObjectBuilder {
    let description = (!description.is_empty()).then(|| description.to_owned());
    ObjectBuilder::new()
        .schema_type(kind)
        .description(description)
}

fn formatted(format: KnownFormat, description: &str) -> ObjectBuilder {
    string(description).format(Some(SchemaFormat::KnownFormat(format)))
}

fn custom_format(format: &str, description: &str) -> ObjectBuilder {
    string(description).format(Some(SchemaFormat::Custom(format.to_owned())))
}

/// A string.
pub(crate) fn string(description: &str) -> ObjectBuilder {
    typed(Type::String, description)
}

/// A string that may be `null`.
pub(crate) fn string_or_null(description: &str) -> ObjectBuilder {
    typed(
        SchemaType::from_iter([Type::String, Type::Null]),
        description,
    )
}

/// One of the listed strings.
pub(crate) fn one_of(values: &[&str], description: &str) -> ObjectBuilder {
    string(description).enum_values(Some(values.iter().copied()))
}

/// A whole number.
pub(crate) fn integer(description: &str) -> ObjectBuilder {
    typed(Type::Integer, description).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

/// A whole number that may be `null`.
pub(crate) fn integer_or_null(description: &str) -> ObjectBuilder {
    typed(
        SchemaType::from_iter([Type::Integer, Type::Null]),
        description,
    )
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

/// `true` or `false`.
pub(crate) fn boolean(description: &str) -> ObjectBuilder {
    typed(Type::Boolean, description)
}

/// A number with a fraction.
pub(crate) fn number(description: &str) -> ObjectBuilder {
    typed(Type::Number, description)
}

/// An RFC 3339 date and time.
pub(crate) fn timestamp(description: &str) -> ObjectBuilder {
    formatted(KnownFormat::DateTime, description)
}

/// A `YYYY-MM-DD` date.
pub(crate) fn date(description: &str) -> ObjectBuilder {
    formatted(KnownFormat::Date, description)
}

/// A UUID in its hyphenated text form.
pub(crate) fn uuid(description: &str) -> ObjectBuilder {
    custom_format("uuid", description)
}

/// Any JSON value.
pub(crate) fn any(description: &str) -> ObjectBuilder {
    typed(SchemaType::AnyValue, description)
}

/// An object; add its fields with [`Props`].
pub(crate) fn object(description: &str) -> ObjectBuilder {
    typed(Type::Object, description)
}

/// An array of `items`.
pub(crate) fn list(items: impl Into<Shape>, description: &str) -> Shape {
    let description = (!description.is_empty()).then(|| description.to_owned());
    ArrayBuilder::new()
        .items(items.into())
        .description(description)
        .into()
}

/// The component schema `name`.
pub(crate) fn named(name: &str) -> Shape {
    Ref::from_schema_name(name).into()
}

/// `success: true`, which every successful JSON body of the original API carries.
pub(crate) fn success() -> ObjectBuilder {
    boolean("Always `true` on success.").enum_values(Some([true]))
}

/// Fields of an object schema.
pub(crate) trait Props: Sized {
    /// Adds a field the body always has (a request must send it).
    fn field(self, name: &str, shape: impl Into<Shape>) -> Self;
    /// Adds a field that may be absent.
    fn optional(self, name: &str, shape: impl Into<Shape>) -> Self;
}

impl Props for ObjectBuilder {
    fn field(self, name: &str, shape: impl Into<Shape>) -> Self {
        self.property(name, shape).required(name)
    }

    fn optional(self, name: &str, shape: impl Into<Shape>) -> Self {
        self.property(name, shape)
    }
}

/// The access and refresh tokens of a session, added to `body` (`TokenPair::to_json`).
pub(crate) fn with_tokens(body: ObjectBuilder) -> ObjectBuilder {
    body.field(
        "access_token",
        string("A JWT to send as `Authorization: Bearer <token>`."),
    )
    .field(
        "refresh_token",
        string("Exchanges for a new pair at `POST /api/auth/refresh`, once."),
    )
    .field("token_type", one_of(&["Bearer"], ""))
    .field(
        "expires_in",
        integer("Seconds until the access token expires."),
    )
}

/// Every shared schema, by name.
pub(crate) fn components() -> Vec<(&'static str, Shape)> {
    vec![
        ("Problem", problem()),
        ("Permission", permission()),
        ("Tenant", tenant()),
        ("User", user()),
        ("TenantSettings", tenant_settings()),
        ("PlanLimits", plan_limits()),
        ("LimitOverrides", limit_overrides()),
        ("Conversation", conversation()),
        ("Message", message()),
        ("Usage", usage()),
        ("Role", role()),
        ("AuditEvent", audit_event()),
        ("ChatMessage", chat_message()),
    ]
}

/// `hydronet_core::Problem`: RFC 9457 with a stable `code`.
fn problem() -> Shape {
    let reasons = list(string(""), "");
    object("An RFC 9457 problem (`application/problem+json`) with a stable `code`.")
        .field(
            "type",
            string("Always `about:blank`: the status says what kind of problem it is."),
        )
        .field("title", string("The status's reason phrase."))
        .field("status", integer("The HTTP status."))
        .field("detail", string("What went wrong, for people."))
        .field("code", string("What went wrong, for programs; stable."))
        .field(
            "success",
            boolean("Always `false`.").enum_values(Some([false])),
        )
        .optional(
            "errors",
            object("For `validation_failed`: field name → the reasons it was refused.")
                .additional_properties(Some(AdditionalProperties::RefOr(reasons))),
        )
        .into()
}

/// `hydronet_tenancy::rbac::Permission`, every name it knows.
fn permission() -> Shape {
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    one_of(&names, "A permission, `resource:action`.").into()
}

/// `TenantRow::to_json`.
fn tenant() -> Shape {
    object("A tenant: one customer organisation.")
        .field("id", uuid(""))
        .field("name", string("Display name."))
        .field("slug", string("URL-safe name, unique across the service."))
        .field("plan", one_of(&["free", "pro", "enterprise"], ""))
        .field("status", one_of(&["active", "suspended", "deleted"], ""))
        .field("created_at", timestamp(""))
        .into()
}

/// `UserRow::to_json`.
fn user() -> Shape {
    object("A user of a tenant.")
        .field("id", uuid(""))
        .field("tenant_id", uuid(""))
        .field("email", string("Normalised to lower case."))
        .field("roles", list(string(""), "Names of the user's roles."))
        .field(
            "status",
            one_of(
                &["active", "disabled", "invited"],
                "`invited` until the user sets a password.",
            ),
        )
        .field("created_at", timestamp(""))
        .field(
            "last_login_at",
            string_or_null("RFC 3339; `null` before the first login."),
        )
        .into()
}

/// `routes::tenant::settings_json`.
fn tenant_settings() -> Shape {
    object("")
        .field("name", string("The tenant's display name."))
        .field(
            "system_prompt",
            string("What the assistant is told before every conversation."),
        )
        .field(
            "system_prompt_is_default",
            boolean("Whether the built-in prompt is in use."),
        )
        .into()
}

const LIMITS: [(&str, &str); 7] = [
    (
        "requests_per_minute",
        "API requests per minute for the whole tenant.",
    ),
    (
        "user_requests_per_minute",
        "API requests per minute for each user or API key.",
    ),
    ("tokens_per_day", "LLM tokens per UTC day."),
    ("tokens_per_month", "LLM tokens per UTC calendar month."),
    ("max_users", "User accounts."),
    ("max_conversations", "Conversations kept at once."),
    ("max_mcp_servers", "Registered MCP tool servers."),
];

/// `hydronet_core::PlanLimits`.
fn plan_limits() -> Shape {
    LIMITS
        .iter()
        .fold(
            object("A tenant's effective limits."),
            |body, (name, about)| body.field(name, integer(about)),
        )
        .into()
}

/// `limits::LimitOverrides`: unknown names are refused.
fn limit_overrides() -> Shape {
    LIMITS
        .iter()
        .fold(
            object("Limits that replace the plan's for one tenant; absent ones keep the plan's.")
                .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            |body, (name, about)| body.optional(name, integer(about).minimum(Some(0))),
        )
        .into()
}

/// `ConversationRow::to_json`.
fn conversation() -> Shape {
    object("A conversation with the assistant; only its owner sees it.")
        .field("id", string(""))
        .field("title", string(""))
        .field("created_at", timestamp(""))
        .field("updated_at", timestamp(""))
        .into()
}

/// `MessageRow::to_json`.
fn message() -> Shape {
    object("One message of a conversation.")
        .field("id", string(""))
        .field("role", one_of(&["user", "assistant"], ""))
        .field("content", string(""))
        .field(
            "status",
            one_of(
                &["ok", "failed"],
                "`failed` when the model call of its turn failed.",
            ),
        )
        .field("created_at", timestamp(""))
        .optional(
            "usage",
            object("Assistant messages only: tokens of the call that produced it.")
                .field("prompt_tokens", integer(""))
                .field("completion_tokens", integer(""))
                .field("total_tokens", integer("")),
        )
        .into()
}

/// `hydronet_llm::Usage`, provider details included.
fn usage() -> Shape {
    object("Tokens a model call used, as the provider reported them (or estimated).")
        .field("prompt_tokens", integer(""))
        .field("completion_tokens", integer(""))
        .field("total_tokens", integer(""))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .into()
}

/// `routes::roles::role_json`.
fn role() -> Shape {
    object("A role of the tenant, built in or custom.")
        .field("name", string(""))
        .field(
            "builtin",
            boolean("Built-in roles cannot be changed or deleted."),
        )
        .field(
            "description",
            string_or_null("What a built-in role is for; `null` for custom roles."),
        )
        .field("permissions", list(named("Permission"), ""))
        .into()
}

/// `hydronet_tenancy::audit::AuditEvent` with its place in the tenant's hash chain.
fn audit_event() -> Shape {
    let actor = object("Who did it.")
        .field("type", one_of(&["user", "api_key", "system"], ""))
        .optional("id", uuid("The user or API key; absent for `system`."));
    object("One audited action.")
        .field("seq", integer("Position in the tenant's chain, from 1."))
        .field("hash", string("Chain hash, lowercase hex."))
        .field("id", uuid("Time-ordered unique id."))
        .field("time_ms", integer("Unix milliseconds, UTC."))
        .field("tenant_id", uuid(""))
        .field("actor", actor)
        .field(
            "action",
            string("Dotted action name, such as `role.assigned`."),
        )
        .field(
            "target",
            string_or_null("Such as `user:<id>` or `role:<name>`."),
        )
        .field("outcome", one_of(&["success", "denied", "failed"], ""))
        .field("request_id", string_or_null(""))
        .field(
            "token_id",
            string_or_null("The credential used: a JWT's `jti` or an API key's id."),
        )
        .field("client_addr", string_or_null(""))
        .field("user_agent", string_or_null(""))
        .field("details", any("Structured details; secrets are redacted."))
        .into()
}

/// `hydronet_llm::Message`, the OpenAI wire format.
fn chat_message() -> Shape {
    object("A chat message in the OpenAI wire format; other fields pass through.")
        .field("role", one_of(&["system", "user", "assistant", "tool"], ""))
        .optional(
            "content",
            string("The text; absent on assistant messages that only call tools."),
        )
        .optional("tool_calls", list(any("A tool call."), ""))
        .optional(
            "tool_call_id",
            string("For tool messages: the call this answers."),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .into()
}
