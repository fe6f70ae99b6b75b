//! The MCP tool server: five calculation tools over [`crate::hydraulics`].
//!
//! Every tool takes a JSON object whose field names carry their unit (`flow_m3_per_s`,
//! `diameter_m`), and answers with a one-line summary for people, the same numbers as
//! structured JSON (`structuredContent`, described by the tool's output schema), and that
//! JSON again as text for clients that ignore structured content.
//!
//! Arguments that cannot be read (a missing field, a string for a number) and values out
//! of range both come back as a tool result with `isError: true` and a message saying
//! which parameter to fix, so a model calling the tool can correct itself. Protocol
//! errors are kept for what is not the caller's input: an unknown tool name.

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::hydraulics::{self, FlowRegime, InputError};

/// Name of the Hazen–Williams head-loss tool.
pub const HAZEN_WILLIAMS: &str = "hazen_williams_head_loss";
/// Name of the Darcy–Weisbach head-loss tool.
pub const DARCY_WEISBACH: &str = "darcy_weisbach_head_loss";
/// Name of the velocity and Reynolds number tool.
pub const FLOW_VELOCITY: &str = "flow_velocity_and_reynolds";
/// Name of the pump power tool.
pub const PUMP_POWER: &str = "pump_power";
/// Name of the tank drain time tool.
pub const TANK_DRAIN: &str = "tank_drain_time";

const INSTRUCTIONS: &str = "Hydraulic calculations for water networks, in SI units: pipe \
    head loss (Hazen-Williams, Darcy-Weisbach), velocity and Reynolds number, pump power and \
    tank drain time. Give flows in m3/s (1 L/s = 0.001 m3/s) and diameters in metres.";

/// The water-network MCP server: a stateless [`ServerHandler`] offering five tools.
///
/// ```
/// use rmcp::ServerHandler;
///
/// let server = water_mcp::WaterTools::new();
/// assert!(server.get_info().capabilities.tools.is_some());
/// assert!(server.get_tool("pump_power").is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct WaterTools {
    _private: (),
}

impl WaterTools {
    /// A new server; it holds no state, so one per connection costs nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The five tools, with their input and output schemas.
    pub fn tools() -> Vec<Tool> {
        vec![
            tool::<HazenWilliamsArgs, HazenWilliamsOutput>(
                HAZEN_WILLIAMS,
                "Friction head loss in a full circular pipe by the Hazen-Williams formula \
                 (SI): h_f = 10.67 L Q^1.852 / (C^1.852 D^4.8704). For water at ordinary \
                 temperatures in turbulent flow.",
            ),
            tool::<DarcyWeisbachArgs, DarcyWeisbachOutput>(
                DARCY_WEISBACH,
                "Friction head loss in a full circular pipe by Darcy-Weisbach, with the \
                 friction factor from 64/Re (laminar, Re < 2000) or Swamee-Jain (turbulent, \
                 Re > 4000); transitional flow is interpolated and flagged as uncertain.",
            ),
            tool::<FlowVelocityArgs, FlowVelocityOutput>(
                FLOW_VELOCITY,
                "Mean velocity and Reynolds number of a flow in a full circular pipe, and \
                 whether it is laminar (Re < 2000), transitional or turbulent (Re > 4000).",
            ),
            tool::<PumpPowerArgs, PumpPowerOutput>(
                PUMP_POWER,
                "Hydraulic power (rho g Q H) and shaft power (divided by efficiency) of a \
                 pump delivering a flow against a total head.",
            ),
            tool::<TankDrainArgs, TankDrainOutput>(
                TANK_DRAIN,
                "Time for a tank of constant cross-section to drain through an orifice in \
                 its floor, by Torricelli: t = (A_t / (C_d a)) sqrt(2 h / g).",
            ),
        ]
    }
}

fn tool<I: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
) -> Tool {
    let annotations = ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false);
    Tool::new(name, description, JsonObject::new())
        .with_input_schema::<I>()
        .with_output_schema::<O>()
        .with_annotations(annotations)
}

impl ServerHandler for WaterTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(Self::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        Self::tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            HAZEN_WILLIAMS => run(arguments, hazen_williams),
            DARCY_WEISBACH => run(arguments, darcy_weisbach),
            FLOW_VELOCITY => run(arguments, flow_velocity),
            PUMP_POWER => run(arguments, pump_power),
            TANK_DRAIN => run(arguments, tank_drain),
            other => {
                tracing::debug!(tool = other, "unknown tool");
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{other}`"),
                    None,
                ));
            }
        };
        tracing::debug!(tool = %request.name, is_error = ?result.is_error, "tool called");
        Ok(result.into())
    }
}

/// Reads the arguments, runs a calculation and turns its outcome into a tool result.
fn run<A, O>(
    arguments: JsonObject,
    calculate: impl FnOnce(A) -> Result<(String, O), InputError>,
) -> CallToolResult
where
    A: DeserializeOwned,
    O: Serialize,
{
    let args = match serde_json::from_value(serde_json::Value::Object(arguments)) {
        Ok(args) => args,
        Err(err) => return failure(format!("invalid arguments: {err}")),
    };
    let (summary, output) = match calculate(args) {
        Ok(answer) => answer,
        Err(err) => {
            let argument = argument_name(err.parameter());
            return failure(format!("invalid input: {argument} {}", err.reason()));
        }
    };
    match serde_json::to_value(output) {
        Ok(structured) => {
            let mut result = CallToolResult::structured(structured);
            result.content.insert(0, ContentBlock::text(summary));
            result
        }
        Err(err) => {
            tracing::error!(error = %err, "tool output did not serialise");
            failure("internal error: the result could not be encoded".to_owned())
        }
    }
}

/// The tool argument behind a parameter of [`hydraulics`].
fn argument_name(parameter: &'static str) -> &'static str {
    match parameter {
        "flow" => "flow_m3_per_s",
        "diameter" => "diameter_m",
        "length" => "length_m",
        "c" => "c_factor",
        "roughness" => "roughness_m",
        "kinematic_viscosity" => "kinematic_viscosity_m2_per_s",
        "head" => "head_m",
        "density" => "density_kg_per_m3",
        "gravity" => "gravity_m_per_s2",
        "tank_area" => "tank_area_m2",
        "depth" => "initial_depth_m",
        "orifice_area" => "orifice_area_m2",
        other => other,
    }
}

fn failure(message: String) -> CallToolResult {
    tracing::debug!(%message, "tool input rejected");
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn default_viscosity() -> f64 {
    hydraulics::WATER_KINEMATIC_VISCOSITY_20C
}

fn default_density() -> f64 {
    hydraulics::WATER_DENSITY_20C
}

fn default_gravity() -> f64 {
    hydraulics::GRAVITY
}

fn default_discharge_coefficient() -> f64 {
    hydraulics::SHARP_ORIFICE_DISCHARGE_COEFFICIENT
}

/// Arguments of `hazen_williams_head_loss`.
#[derive(Debug, Deserialize, JsonSchema)]
struct HazenWilliamsArgs {
    /// Flow rate Q in m³/s (1 L/s = 0.001 m³/s); more than 0, at most 100.
    flow_m3_per_s: f64,
    /// Internal pipe diameter D in m (300 mm = 0.3); more than 0, at most 10.
    diameter_m: f64,
    /// Pipe length L in m; more than 0, at most 1 000 000.
    length_m: f64,
    /// Hazen-Williams coefficient C (dimensionless, more than 0, at most 200): about 140-150
    /// for PVC and PE, 120-140 for new steel or ductile iron, 100 for old cast iron.
    c_factor: f64,
}

/// Result of `hazen_williams_head_loss`.
#[derive(Debug, Serialize, JsonSchema)]
struct HazenWilliamsOutput {
    /// Friction head loss over the length, in m.
    head_loss_m: f64,
    /// Head loss per kilometre of pipe, in m/km.
    head_loss_m_per_km: f64,
    /// Mean velocity, in m/s.
    velocity_m_per_s: f64,
}

fn hazen_williams(args: HazenWilliamsArgs) -> Result<(String, HazenWilliamsOutput), InputError> {
    let HazenWilliamsArgs {
        flow_m3_per_s: flow,
        diameter_m: diameter,
        length_m: length,
        c_factor: c,
    } = args;
    let head_loss = hydraulics::hazen_williams_head_loss(flow, diameter, length, c)?;

    let output = HazenWilliamsOutput {
        head_loss_m: head_loss,
        head_loss_m_per_km: head_loss / length * 1000.0,
        velocity_m_per_s: flow / hydraulics::circle_area(diameter),
    };
    let summary = format!(
        "Hazen-Williams head loss: {:.3} m over {length} m ({:.3} m/km) at {:.2} m/s (C = {c}).",
        output.head_loss_m, output.head_loss_m_per_km, output.velocity_m_per_s
    );
    Ok((summary, output))
}

/// Arguments of `darcy_weisbach_head_loss`.
#[derive(Debug, Deserialize, JsonSchema)]
struct DarcyWeisbachArgs {
    /// Flow rate Q in m³/s (1 L/s = 0.001 m³/s); more than 0, at most 100.
    flow_m3_per_s: f64,
    /// Internal pipe diameter D in m (300 mm = 0.3); more than 0, at most 10.
    diameter_m: f64,
    /// Pipe length L in m; more than 0, at most 1 000 000.
    length_m: f64,
    /// Absolute wall roughness ε in m (0.26 mm = 0.00026 for cast iron, 0.0000015 for PVC);
    /// 0 or more, at most 5 % of the diameter.
    roughness_m: f64,
    /// Kinematic viscosity ν in m²/s; water at 20 °C is 1.004e-6.
    #[serde(default = "default_viscosity")]
    kinematic_viscosity_m2_per_s: f64,
}

/// Result of `darcy_weisbach_head_loss`.
#[derive(Debug, Serialize, JsonSchema)]
struct DarcyWeisbachOutput {
    /// Mean velocity, in m/s.
    velocity_m_per_s: f64,
    /// Reynolds number (dimensionless).
    reynolds_number: f64,
    /// Flow regime.
    regime: Regime,
    /// Darcy friction factor (dimensionless).
    friction_factor: f64,
    /// How the friction factor was obtained.
    friction_factor_method: String,
    /// Friction head loss over the length, in m.
    head_loss_m: f64,
}

fn darcy_weisbach(args: DarcyWeisbachArgs) -> Result<(String, DarcyWeisbachOutput), InputError> {
    let result = hydraulics::darcy_weisbach_head_loss(
        args.flow_m3_per_s,
        args.diameter_m,
        args.length_m,
        args.roughness_m,
        args.kinematic_viscosity_m2_per_s,
    )?;

    let output = DarcyWeisbachOutput {
        velocity_m_per_s: result.flow.velocity,
        reynolds_number: result.flow.reynolds,
        regime: result.flow.regime.into(),
        friction_factor: result.friction_factor,
        friction_factor_method: result.friction_method.describe().to_owned(),
        head_loss_m: result.head_loss,
    };
    let summary = format!(
        "Darcy-Weisbach head loss: {:.3} m over {} m; V = {:.3} m/s, Re = {:.0} ({}), \
         f = {:.5} ({}).",
        output.head_loss_m,
        args.length_m,
        output.velocity_m_per_s,
        output.reynolds_number,
        result.flow.regime.as_str(),
        output.friction_factor,
        output.friction_factor_method,
    );
    Ok((summary, output))
}

/// Arguments of `flow_velocity_and_reynolds`.
#[derive(Debug, Deserialize, JsonSchema)]
struct FlowVelocityArgs {
    /// Flow rate Q in m³/s (1 L/s = 0.001 m³/s); more than 0, at most 100.
    flow_m3_per_s: f64,
    /// Internal pipe diameter D in m (300 mm = 0.3); more than 0, at most 10.
    diameter_m: f64,
    /// Kinematic viscosity ν in m²/s; water at 20 °C is 1.004e-6.
    #[serde(default = "default_viscosity")]
    kinematic_viscosity_m2_per_s: f64,
}

/// Result of `flow_velocity_and_reynolds`.
#[derive(Debug, Serialize, JsonSchema)]
struct FlowVelocityOutput {
    /// Mean velocity, in m/s.
    velocity_m_per_s: f64,
    /// Reynolds number (dimensionless).
    reynolds_number: f64,
    /// Flow regime.
    regime: Regime,
}

fn flow_velocity(args: FlowVelocityArgs) -> Result<(String, FlowVelocityOutput), InputError> {
    let flow = hydraulics::pipe_flow(
        args.flow_m3_per_s,
        args.diameter_m,
        args.kinematic_viscosity_m2_per_s,
    )?;

    let output = FlowVelocityOutput {
        velocity_m_per_s: flow.velocity,
        reynolds_number: flow.reynolds,
        regime: flow.regime.into(),
    };
    let summary = format!(
        "V = {:.3} m/s, Re = {:.0}: {} flow.",
        flow.velocity,
        flow.reynolds,
        flow.regime.as_str()
    );
    Ok((summary, output))
}

/// Arguments of `pump_power`.
#[derive(Debug, Deserialize, JsonSchema)]
struct PumpPowerArgs {
    /// Flow rate Q in m³/s (1 L/s = 0.001 m³/s); more than 0, at most 100.
    flow_m3_per_s: f64,
    /// Total dynamic head H in m; more than 0, at most 5000.
    head_m: f64,
    /// Pump efficiency as a fraction: more than 0, at most 1 (75 % = 0.75).
    efficiency: f64,
    /// Fluid density ρ in kg/m³; water at 20 °C is 998.2.
    #[serde(default = "default_density")]
    density_kg_per_m3: f64,
    /// Acceleration due to gravity g in m/s².
    #[serde(default = "default_gravity")]
    gravity_m_per_s2: f64,
}

/// Result of `pump_power`.
#[derive(Debug, Serialize, JsonSchema)]
struct PumpPowerOutput {
    /// Power given to the water, ρ·g·Q·H, in W.
    hydraulic_power_w: f64,
    /// Power needed at the pump shaft, in W.
    shaft_power_w: f64,
    /// Power needed at the pump shaft, in kW.
    shaft_power_kw: f64,
}

fn pump_power(args: PumpPowerArgs) -> Result<(String, PumpPowerOutput), InputError> {
    let power = hydraulics::pump_power(
        args.flow_m3_per_s,
        args.head_m,
        args.efficiency,
        args.density_kg_per_m3,
        args.gravity_m_per_s2,
    )?;

    let output = PumpPowerOutput {
        hydraulic_power_w: power.hydraulic,
        shaft_power_w: power.shaft,
        shaft_power_kw: power.shaft / 1000.0,
    };
    let summary = format!(
        "Hydraulic power {:.1} kW; shaft power {:.1} kW at {:.0} % efficiency.",
        power.hydraulic / 1000.0,
        output.shaft_power_kw,
        args.efficiency * 100.0
    );
    Ok((summary, output))
}

/// Arguments of `tank_drain_time`.
#[derive(Debug, Deserialize, JsonSchema)]
struct TankDrainArgs {
    /// Tank cross-section area A_t in m²; more than 0, at most 1 000 000.
    tank_area_m2: f64,
    /// Initial water depth h above the orifice, in m; more than 0, at most 1000.
    initial_depth_m: f64,
    /// Orifice area a in m² (a 50 mm hole is 0.0019635); more than 0, less than the tank area.
    orifice_area_m2: f64,
    /// Discharge coefficient C_d (dimensionless, more than 0, at most 1); 0.61 for a
    /// sharp-edged orifice.
    #[serde(default = "default_discharge_coefficient")]
    discharge_coefficient: f64,
}

/// Result of `tank_drain_time`.
#[derive(Debug, Serialize, JsonSchema)]
struct TankDrainOutput {
    /// Time to drain, in s.
    drain_time_s: f64,
    /// Time to drain, in minutes.
    drain_time_min: f64,
}

fn tank_drain(args: TankDrainArgs) -> Result<(String, TankDrainOutput), InputError> {
    let seconds = hydraulics::tank_drain_time(
        args.tank_area_m2,
        args.initial_depth_m,
        args.orifice_area_m2,
        args.discharge_coefficient,
        hydraulics::GRAVITY,
    )?;

    let output = TankDrainOutput {
        drain_time_s: seconds,
        drain_time_min: seconds / 60.0,
    };
    let summary = format!(
        "The tank drains in {:.0} s ({:.1} min).",
        output.drain_time_s, output.drain_time_min
    );
    Ok((summary, output))
}

/// The flow regime as it appears in tool output.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Regime {
    /// Re < 2000.
    Laminar,
    /// 2000 ≤ Re ≤ 4000.
    Transitional,
    /// Re > 4000.
    Turbulent,
}

impl From<FlowRegime> for Regime {
    fn from(regime: FlowRegime) -> Self {
        match regime {
            FlowRegime::Laminar => Self::Laminar,
            FlowRegime::Transitional => Self::Transitional,
            FlowRegime::Turbulent => Self::Turbulent,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn call<A: DeserializeOwned, O: Serialize>(
        arguments: Value,
        calculate: impl FnOnce(A) -> Result<(String, O), InputError>,
    ) -> CallToolResult {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object");
        };
        run(arguments, calculate)
    }

    fn text(result: &CallToolResult, index: usize) -> &str {
        result.content[index]
            .as_text()
            .map(|text| text.text.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn lists_five_tools_with_object_input_and_output_schemas() {
        let tools = WaterTools::tools();
        let names: Vec<_> = tools.iter().map(|tool| tool.name.as_ref()).collect();

        assert_eq!(
            names,
            [
                HAZEN_WILLIAMS,
                DARCY_WEISBACH,
                FLOW_VELOCITY,
                PUMP_POWER,
                TANK_DRAIN
            ]
        );
        for tool in &tools {
            assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
            assert!(
                tool.output_schema.is_some(),
                "{} has no output schema",
                tool.name
            );
            assert!(
                tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true),
                "{} is not marked read-only",
                tool.name
            );
        }
    }

    #[test]
    fn defaults_are_optional_and_shown_in_the_schema() {
        let tool = WaterTools::new()
            .get_tool(DARCY_WEISBACH)
            .expect("the tool exists");
        let schema = Value::Object(tool.input_schema.as_ref().clone());

        let required = schema["required"].as_array().expect("required list");
        assert!(!required.contains(&json!("kinematic_viscosity_m2_per_s")));
        assert!(required.contains(&json!("roughness_m")));
        assert_eq!(
            schema["properties"]["kinematic_viscosity_m2_per_s"]["default"],
            json!(1.004e-6)
        );
        let description = schema["properties"]["diameter_m"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(description.contains("in m"), "{description}");
    }

    #[test]
    fn a_result_has_a_summary_structured_json_and_json_text() {
        let result = call(
            json!({"flow_m3_per_s": 0.05, "head_m": 30.0, "efficiency": 0.75, "density_kg_per_m3": 1000.0}),
            pump_power,
        );

        assert_eq!(result.is_error, Some(false));
        let structured = result
            .structured_content
            .clone()
            .expect("structured content");
        assert!((structured["shaft_power_kw"].as_f64().unwrap_or_default() - 19.62).abs() < 1e-9);
        assert!(text(&result, 0).contains("19.6 kW"), "{}", text(&result, 0));
        let echoed: Value = serde_json::from_str(text(&result, 1)).expect("JSON text");
        assert_eq!(echoed, structured);
    }

    #[test]
    fn transitional_flow_is_flagged() {
        // 0.1 L/s in a 50 mm pipe: Re = 4·1e-4/(π·0.05·1.004e-6) = 2536.
        let result = call(
            json!({"flow_m3_per_s": 1e-4, "diameter_m": 0.05, "length_m": 100.0, "roughness_m": 0.0}),
            darcy_weisbach,
        );

        let structured = result.structured_content.expect("structured content");
        assert_eq!(structured["regime"], json!("transitional"));
        let method = structured["friction_factor_method"]
            .as_str()
            .unwrap_or_default();
        assert!(method.contains("uncertain"), "{method}");
    }

    #[test]
    fn unreadable_arguments_are_a_tool_error() {
        let missing = call(json!({"flow_m3_per_s": 0.1}), flow_velocity);
        let wrong_type = call(
            json!({"flow_m3_per_s": "lots", "diameter_m": 0.3}),
            flow_velocity,
        );

        assert_eq!(missing.is_error, Some(true));
        assert!(
            text(&missing, 0).contains("diameter_m"),
            "{}",
            text(&missing, 0)
        );
        assert_eq!(wrong_type.is_error, Some(true));
        assert!(text(&wrong_type, 0).starts_with("invalid arguments"));
    }

    #[test]
    fn out_of_range_values_are_a_tool_error_naming_the_parameter() {
        let result = call(
            json!({"tank_area_m2": 2.0, "initial_depth_m": -1.0, "orifice_area_m2": 0.01}),
            tank_drain,
        );

        assert_eq!(result.is_error, Some(true));
        assert!(result.structured_content.is_none());
        assert_eq!(
            text(&result, 0),
            "invalid input: initial_depth_m must be more than 0 and at most 1000 m, got -1 m"
        );
    }
}
