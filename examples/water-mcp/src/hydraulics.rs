//! Pipe and tank hydraulics as plain functions, in SI units.
//!
//! Every quantity is SI: lengths and heads in m, areas in m², flows in m³/s, velocities in
//! m/s, kinematic viscosity in m²/s, density in kg/m³, power in W, time in s. Each function
//! checks its inputs first and returns an [`InputError`] naming the offending parameter, so a
//! caller (the MCP tools, or anyone else) never sees a `NaN` or an infinity come out.
//!
//! # Example
//!
//! ```
//! use water_mcp::hydraulics::{self, FlowRegime};
//!
//! // 100 L/s through a 300 mm pipe, water at 20 °C.
//! let flow = hydraulics::pipe_flow(0.1, 0.3, hydraulics::WATER_KINEMATIC_VISCOSITY_20C)?;
//! assert!((flow.velocity - 1.4147).abs() < 1e-4);
//! assert_eq!(flow.regime, FlowRegime::Turbulent);
//! # Ok::<(), water_mcp::hydraulics::InputError>(())
//! ```
//!
//! # Accepted ranges
//!
//! The upper bounds are generous; they are there to catch a value given in the wrong unit
//! (a diameter of 300 is 300 m, not 300 mm).
//!
//! | quantity | accepted |
//! |---|---|
//! | flow | more than 0, at most 100 m³/s |
//! | diameter | more than 0, at most 10 m |
//! | length | more than 0, at most 1 000 000 m |
//! | Hazen–Williams C | more than 0, at most 200 |
//! | roughness | 0 or more, at most 5 % of the diameter |
//! | kinematic viscosity | more than 0, at most 0.01 m²/s |
//! | head | more than 0, at most 5000 m |
//! | efficiency, discharge coefficient | more than 0, at most 1 |
//! | density | more than 0, at most 20 000 kg/m³ |
//! | gravity | more than 0, at most 30 m/s² |
//! | tank area | more than 0, at most 1 000 000 m² |
//! | water depth | more than 0, at most 1000 m |
//! | orifice area | more than 0, less than the tank area |

use std::f64::consts::PI;

/// Acceleration due to gravity used by default, in m/s² (the value most textbooks use).
pub const GRAVITY: f64 = 9.81;

/// Kinematic viscosity of water at 20 °C, in m²/s.
pub const WATER_KINEMATIC_VISCOSITY_20C: f64 = 1.004e-6;

/// Density of water at 20 °C, in kg/m³.
pub const WATER_DENSITY_20C: f64 = 998.2;

/// Discharge coefficient of a sharp-edged orifice (dimensionless).
pub const SHARP_ORIFICE_DISCHARGE_COEFFICIENT: f64 = 0.61;

/// Below this Reynolds number, pipe flow is taken as laminar.
pub const LAMINAR_LIMIT: f64 = 2000.0;

/// Above this Reynolds number, pipe flow is taken as fully turbulent.
pub const TURBULENT_LIMIT: f64 = 4000.0;

/// An input outside its accepted range, or not a finite number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct InputError {
    parameter: &'static str,
    reason: String,
}

impl InputError {
    fn new(parameter: &'static str, reason: impl Into<String>) -> Self {
        Self {
            parameter,
            reason: reason.into(),
        }
    }

    /// The name of the rejected parameter, such as `"diameter"`.
    pub fn parameter(&self) -> &'static str {
        self.parameter
    }

    /// Why it was rejected, without the parameter name.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The flow regime of pipe flow, from its Reynolds number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRegime {
    /// Re below [`LAMINAR_LIMIT`].
    Laminar,
    /// Re from [`LAMINAR_LIMIT`] to [`TURBULENT_LIMIT`]: neither regime is reliable.
    Transitional,
    /// Re above [`TURBULENT_LIMIT`].
    Turbulent,
}

impl FlowRegime {
    /// The regime for a Reynolds number.
    ///
    /// ```
    /// use water_mcp::hydraulics::FlowRegime;
    ///
    /// assert_eq!(FlowRegime::from_reynolds(1999.0), FlowRegime::Laminar);
    /// assert_eq!(FlowRegime::from_reynolds(3000.0), FlowRegime::Transitional);
    /// assert_eq!(FlowRegime::from_reynolds(4001.0), FlowRegime::Turbulent);
    /// ```
    pub fn from_reynolds(reynolds: f64) -> Self {
        if reynolds < LAMINAR_LIMIT {
            Self::Laminar
        } else if reynolds <= TURBULENT_LIMIT {
            Self::Transitional
        } else {
            Self::Turbulent
        }
    }

    /// `"laminar"`, `"transitional"` or `"turbulent"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Laminar => "laminar",
            Self::Transitional => "transitional",
            Self::Turbulent => "turbulent",
        }
    }
}

/// Mean velocity and Reynolds number of a full circular pipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipeFlow {
    /// Mean velocity V = Q / A, in m/s.
    pub velocity: f64,
    /// Reynolds number Re = V·D/ν (dimensionless).
    pub reynolds: f64,
    /// The regime that Reynolds number implies.
    pub regime: FlowRegime,
}

/// How a Darcy friction factor was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrictionMethod {
    /// Laminar flow: f = 64/Re.
    Laminar,
    /// Turbulent flow: the Swamee–Jain explicit approximation of Colebrook–White.
    SwameeJain,
    /// Transitional flow: linear in Re between 64/Re at [`LAMINAR_LIMIT`] and Swamee–Jain at
    /// [`TURBULENT_LIMIT`]. No formula is reliable there; this only avoids a jump.
    Interpolated,
}

impl FrictionMethod {
    /// A short description of the method, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Laminar => "64/Re (laminar)",
            Self::SwameeJain => "Swamee-Jain",
            Self::Interpolated => {
                "linear in Re between 64/Re at Re 2000 and Swamee-Jain at Re 4000 (transitional, uncertain)"
            }
        }
    }
}

/// The result of a Darcy–Weisbach calculation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DarcyWeisbach {
    /// Velocity, Reynolds number and regime.
    pub flow: PipeFlow,
    /// Darcy friction factor f (dimensionless).
    pub friction_factor: f64,
    /// How `friction_factor` was obtained.
    pub friction_method: FrictionMethod,
    /// Friction head loss h_f = f·(L/D)·V²/(2g), in m.
    pub head_loss: f64,
}

/// Hydraulic and shaft power of a pump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PumpPower {
    /// Power given to the water, P = ρ·g·Q·H, in W.
    pub hydraulic: f64,
    /// Power needed at the shaft, P / η, in W.
    pub shaft: f64,
}

/// Cross-sectional area of a circular pipe of the given diameter (m), in m².
///
/// ```
/// let area = water_mcp::hydraulics::circle_area(0.3);
/// assert!((area - 0.070686).abs() < 1e-6);
/// ```
pub fn circle_area(diameter: f64) -> f64 {
    PI * diameter * diameter / 4.0
}

/// Friction head loss (m) by the SI Hazen–Williams formula
/// h_f = 10.67·L·Q^1.852 / (C^1.852·D^4.8704).
///
/// `flow` in m³/s, `diameter` and `length` in m, `c` the Hazen–Williams coefficient. The
/// formula suits water at ordinary temperatures in turbulent flow.
///
/// ```
/// // 100 L/s, 300 mm, 1 km, C = 100.
/// let head_loss = water_mcp::hydraulics::hazen_williams_head_loss(0.1, 0.3, 1000.0, 100.0)?;
/// assert!((head_loss - 10.44).abs() < 0.01);
/// # Ok::<(), water_mcp::hydraulics::InputError>(())
/// ```
pub fn hazen_williams_head_loss(
    flow: f64,
    diameter: f64,
    length: f64,
    c: f64,
) -> Result<f64, InputError> {
    check_flow(flow)?;
    check_diameter(diameter)?;
    check_length(length)?;
    positive("c", c, 200.0, "")?;

    Ok(10.67 * length * flow.powf(1.852) / (c.powf(1.852) * diameter.powf(4.8704)))
}

/// Mean velocity, Reynolds number and regime of `flow` (m³/s) in a full pipe of `diameter`
/// (m), for a fluid of kinematic viscosity `viscosity` (m²/s).
///
/// ```
/// use water_mcp::hydraulics::{self, FlowRegime};
///
/// // 0.01 L/s in a 20 mm pipe is laminar.
/// let flow = hydraulics::pipe_flow(1e-5, 0.02, 1.004e-6)?;
/// assert_eq!(flow.regime, FlowRegime::Laminar);
/// # Ok::<(), hydraulics::InputError>(())
/// ```
pub fn pipe_flow(flow: f64, diameter: f64, viscosity: f64) -> Result<PipeFlow, InputError> {
    check_flow(flow)?;
    check_diameter(diameter)?;
    check_viscosity(viscosity)?;

    let velocity = flow / circle_area(diameter);
    let reynolds = velocity * diameter / viscosity;
    Ok(PipeFlow {
        velocity,
        reynolds,
        regime: FlowRegime::from_reynolds(reynolds),
    })
}

/// Darcy friction factor for a Reynolds number and a relative roughness ε/D.
///
/// 64/Re when laminar, Swamee–Jain when turbulent,
/// f = 0.25 / [log10(ε/(3.7·D) + 5.74/Re^0.9)]², and a linear bridge between the two in the
/// transitional range (see [`FrictionMethod::Interpolated`]). Inputs are not checked here:
/// pass a positive Reynolds number and a relative roughness of 0 or more.
///
/// ```
/// use water_mcp::hydraulics::{self, FrictionMethod};
///
/// let (f, method) = hydraulics::friction_factor(1000.0, 0.0);
/// assert_eq!(method, FrictionMethod::Laminar);
/// assert!((f - 0.064).abs() < 1e-12);
/// ```
pub fn friction_factor(reynolds: f64, relative_roughness: f64) -> (f64, FrictionMethod) {
    match FlowRegime::from_reynolds(reynolds) {
        FlowRegime::Laminar => (64.0 / reynolds, FrictionMethod::Laminar),
        FlowRegime::Turbulent => (
            swamee_jain(reynolds, relative_roughness),
            FrictionMethod::SwameeJain,
        ),
        FlowRegime::Transitional => {
            let low = 64.0 / LAMINAR_LIMIT;
            let high = swamee_jain(TURBULENT_LIMIT, relative_roughness);
            let share = (reynolds - LAMINAR_LIMIT) / (TURBULENT_LIMIT - LAMINAR_LIMIT);
            (low + share * (high - low), FrictionMethod::Interpolated)
        }
    }
}

fn swamee_jain(reynolds: f64, relative_roughness: f64) -> f64 {
    let log = (relative_roughness / 3.7 + 5.74 / reynolds.powf(0.9)).log10();
    0.25 / (log * log)
}

/// Friction head loss by Darcy–Weisbach, h_f = f·(L/D)·V²/(2g), with g = [`GRAVITY`].
///
/// `flow` in m³/s; `diameter`, `length` and absolute `roughness` ε in m; `viscosity` the
/// kinematic viscosity in m²/s ([`WATER_KINEMATIC_VISCOSITY_20C`] for water at 20 °C). The
/// friction factor comes from [`friction_factor`].
///
/// ```
/// use water_mcp::hydraulics::{self, FrictionMethod};
///
/// // 100 L/s, 300 mm cast iron (ε = 0.26 mm), 1 km, water at 20 °C.
/// let result = hydraulics::darcy_weisbach_head_loss(0.1, 0.3, 1000.0, 0.26e-3, 1.004e-6)?;
/// assert_eq!(result.friction_method, FrictionMethod::SwameeJain);
/// assert!((result.head_loss - 6.76).abs() < 0.01);
/// # Ok::<(), hydraulics::InputError>(())
/// ```
pub fn darcy_weisbach_head_loss(
    flow: f64,
    diameter: f64,
    length: f64,
    roughness: f64,
    viscosity: f64,
) -> Result<DarcyWeisbach, InputError> {
    let pipe = pipe_flow(flow, diameter, viscosity)?;
    check_length(length)?;
    check_roughness(roughness, diameter)?;

    let (f, method) = friction_factor(pipe.reynolds, roughness / diameter);
    let velocity_head = pipe.velocity * pipe.velocity / (2.0 * GRAVITY);
    Ok(DarcyWeisbach {
        flow: pipe,
        friction_factor: f,
        friction_method: method,
        head_loss: f * length / diameter * velocity_head,
    })
}

/// Hydraulic power ρ·g·Q·H and shaft power ρ·g·Q·H/η of a pump, in W.
///
/// `flow` in m³/s, `head` in m, `efficiency` from 0 (exclusive) to 1, `density` in kg/m³
/// ([`WATER_DENSITY_20C`] for water), `gravity` in m/s² ([`GRAVITY`]).
///
/// ```
/// // 50 L/s lifted 30 m at 75 % efficiency.
/// let power = water_mcp::hydraulics::pump_power(0.05, 30.0, 0.75, 1000.0, 9.81)?;
/// assert!((power.hydraulic - 14_715.0).abs() < 1e-6);
/// assert!((power.shaft - 19_620.0).abs() < 1e-6);
/// # Ok::<(), water_mcp::hydraulics::InputError>(())
/// ```
pub fn pump_power(
    flow: f64,
    head: f64,
    efficiency: f64,
    density: f64,
    gravity: f64,
) -> Result<PumpPower, InputError> {
    check_flow(flow)?;
    positive("head", head, 5000.0, "m")?;
    positive("efficiency", efficiency, 1.0, "")?;
    positive("density", density, 20_000.0, "kg/m³")?;
    check_gravity(gravity)?;

    let hydraulic = density * gravity * flow * head;
    Ok(PumpPower {
        hydraulic,
        shaft: hydraulic / efficiency,
    })
}

/// Time (s) for a tank of constant cross-section to drain through an orifice in its floor,
/// by Torricelli: t = (A_t / (C_d·a))·√(2h/g).
///
/// `tank_area` A_t and `orifice_area` a in m², `depth` h (initial water depth above the
/// orifice) in m, `discharge_coefficient` C_d (dimensionless,
/// [`SHARP_ORIFICE_DISCHARGE_COEFFICIENT`] for a sharp-edged orifice), `gravity` in m/s².
/// The formula assumes the orifice is small next to the tank.
///
/// ```
/// // 1 m² tank, 2 m deep, 10 cm² orifice, C_d = 0.61.
/// let t = water_mcp::hydraulics::tank_drain_time(1.0, 2.0, 0.001, 0.61, 9.81)?;
/// assert!((t - 1047.0).abs() < 1.0);
/// # Ok::<(), water_mcp::hydraulics::InputError>(())
/// ```
pub fn tank_drain_time(
    tank_area: f64,
    depth: f64,
    orifice_area: f64,
    discharge_coefficient: f64,
    gravity: f64,
) -> Result<f64, InputError> {
    positive("tank_area", tank_area, 1.0e6, "m²")?;
    positive("depth", depth, 1000.0, "m")?;
    positive("orifice_area", orifice_area, 1.0e6, "m²")?;
    if orifice_area >= tank_area {
        return Err(InputError::new(
            "orifice_area",
            format!("must be smaller than the tank area ({tank_area} m²), got {orifice_area} m²"),
        ));
    }
    positive("discharge_coefficient", discharge_coefficient, 1.0, "")?;
    check_gravity(gravity)?;

    Ok(tank_area / (discharge_coefficient * orifice_area) * (2.0 * depth / gravity).sqrt())
}

fn check_flow(flow: f64) -> Result<(), InputError> {
    positive("flow", flow, 100.0, "m³/s")
}

fn check_diameter(diameter: f64) -> Result<(), InputError> {
    positive("diameter", diameter, 10.0, "m")
}

fn check_length(length: f64) -> Result<(), InputError> {
    positive("length", length, 1.0e6, "m")
}

fn check_viscosity(viscosity: f64) -> Result<(), InputError> {
    positive("kinematic_viscosity", viscosity, 0.01, "m²/s")
}

fn check_gravity(gravity: f64) -> Result<(), InputError> {
    positive("gravity", gravity, 30.0, "m/s²")
}

fn check_roughness(roughness: f64, diameter: f64) -> Result<(), InputError> {
    finite("roughness", roughness)?;
    let max = 0.05 * diameter;
    if (0.0..=max).contains(&roughness) {
        Ok(())
    } else {
        Err(InputError::new(
            "roughness",
            format!("must be from 0 to 5 % of the diameter ({max} m), got {roughness} m"),
        ))
    }
}

/// Accepts a finite value in (0, max]; `unit` only flavours the message.
fn positive(name: &'static str, value: f64, max: f64, unit: &str) -> Result<(), InputError> {
    finite(name, value)?;
    if value > 0.0 && value <= max {
        return Ok(());
    }
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    Err(InputError::new(
        name,
        format!("must be more than 0 and at most {max}{unit}, got {value}{unit}"),
    ))
}

fn finite(name: &'static str, value: f64) -> Result<(), InputError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(InputError::new(name, "must be a finite number"))
    }
}

#[cfg(test)]
mod tests {
    //! Worked examples, each computed by hand (the steps are in the comments) and checked
    //! against the usual textbook values.

    use super::*;

    fn assert_close(actual: f64, expected: f64, relative: f64) {
        let error = ((actual - expected) / expected).abs();
        assert!(
            error <= relative,
            "{actual} differs from {expected} by {:.3} %",
            error * 100.0
        );
    }

    /// Colebrook–White solved by fixed-point iteration: the reference Swamee–Jain
    /// approximates.
    fn colebrook(reynolds: f64, relative_roughness: f64) -> f64 {
        let mut f: f64 = 0.02;
        for _ in 0..50 {
            let rhs = -2.0 * (relative_roughness / 3.7 + 2.51 / (reynolds * f.sqrt())).log10();
            f = 1.0 / (rhs * rhs);
        }
        f
    }

    // Hazen–Williams: Q = 0.1 m³/s, D = 0.3 m, L = 1000 m.
    //   Q^1.852 = 0.014060, D^4.8704 = 0.0028403
    //   C = 100: C^1.852 = 5058.2 → h_f = 10.67·1000·0.014060 / (5058.2·0.0028403) = 10.44 m
    //   C = 120: C^1.852 = 7090.0 → h_f = 7.45 m
    // The ratio of the two is (120/100)^1.852 = 1.402, as expected of the C exponent.
    #[test]
    fn hazen_williams_300_mm_main_with_c_100_and_120() {
        let old = hazen_williams_head_loss(0.1, 0.3, 1000.0, 100.0).expect("valid input");
        let new = hazen_williams_head_loss(0.1, 0.3, 1000.0, 120.0).expect("valid input");

        assert_close(old, 10.44, 0.001);
        assert_close(new, 7.45, 0.001);
        assert_close(old / new, 1.2_f64.powf(1.852), 1e-9);
    }

    // Hazen–Williams scales with L and Q^1.852: doubling the flow multiplies h_f by
    // 2^1.852 = 3.61; doubling the length doubles it.
    #[test]
    fn hazen_williams_scales_with_flow_and_length() {
        let base = hazen_williams_head_loss(0.05, 0.2, 500.0, 130.0).expect("valid input");
        let double_flow = hazen_williams_head_loss(0.1, 0.2, 500.0, 130.0).expect("valid input");
        let double_length =
            hazen_williams_head_loss(0.05, 0.2, 1000.0, 130.0).expect("valid input");

        assert_close(double_flow / base, 2.0_f64.powf(1.852), 1e-9);
        assert_close(double_length / base, 2.0, 1e-12);
    }

    // Darcy–Weisbach: 300 mm cast-iron main (ε = 0.26 mm), Q = 0.1 m³/s, L = 1000 m,
    // water at 20 °C (ν = 1.004e-6 m²/s).
    //   A = π·0.3²/4 = 0.070686 m², V = 0.1/0.070686 = 1.4147 m/s
    //   Re = 1.4147·0.3/1.004e-6 = 422 700 → turbulent
    //   ε/D = 8.667e-4; Swamee–Jain: log10(8.667e-4/3.7 + 5.74/422700^0.9) = log10(2.5378e-4)
    //   = -3.5955 → f = 0.25/3.5955² = 0.01987 (Colebrook gives 0.01974, 0.6 % lower;
    //   the Moody chart reads about 0.020)
    //   V²/2g = 0.10201 m → h_f = 0.01987·(1000/0.3)·0.10201 = 6.757 m
    #[test]
    fn darcy_weisbach_300_mm_cast_iron() {
        let result =
            darcy_weisbach_head_loss(0.1, 0.3, 1000.0, 0.26e-3, WATER_KINEMATIC_VISCOSITY_20C)
                .expect("valid input");

        assert_close(result.flow.velocity, 1.4147, 1e-4);
        assert_close(result.flow.reynolds, 422_700.0, 1e-3);
        assert_eq!(result.flow.regime, FlowRegime::Turbulent);
        assert_eq!(result.friction_method, FrictionMethod::SwameeJain);
        assert_close(result.friction_factor, 0.01987, 1e-3);
        assert_close(result.head_loss, 6.757, 1e-3);
    }

    // Swamee–Jain stays within 3 % of Colebrook over its range of validity
    // (5000 ≤ Re ≤ 1e8, 1e-6 ≤ ε/D ≤ 1e-2); on this grid the worst case is the corner
    // Re = 5000, ε/D = 0.01, at +2.8 %, and most points are within 1 %.
    #[test]
    fn swamee_jain_tracks_colebrook() {
        for reynolds in [5.0e3, 5.0e4, 5.0e5, 5.0e6, 1.0e8] {
            for relative_roughness in [1.0e-6, 1.0e-4, 1.0e-3, 1.0e-2] {
                let (f, method) = friction_factor(reynolds, relative_roughness);
                assert_eq!(method, FrictionMethod::SwameeJain);
                assert_close(f, colebrook(reynolds, relative_roughness), 0.03);
            }
        }
    }

    // Laminar: Q = 1e-5 m³/s (0.01 L/s) in a 20 mm tube, L = 10 m, ε = 0.
    //   A = 3.1416e-4 m², V = 0.031831 m/s, Re = 0.031831·0.02/1.004e-6 = 634.1
    //   f = 64/634.1 = 0.10093; V²/2g = 5.1643e-5 m → h_f = 0.10093·500·5.1643e-5 = 2.606e-3 m
    // Cross-check with Hagen–Poiseuille, h_f = 32·ν·L·V/(g·D²)
    //   = 32·1.004e-6·10·0.031831/(9.81·0.0004) = 2.606e-3 m.
    #[test]
    fn darcy_weisbach_laminar_matches_hagen_poiseuille() {
        let nu = WATER_KINEMATIC_VISCOSITY_20C;
        let result = darcy_weisbach_head_loss(1e-5, 0.02, 10.0, 0.0, nu).expect("valid input");

        assert_eq!(result.flow.regime, FlowRegime::Laminar);
        assert_eq!(result.friction_method, FrictionMethod::Laminar);
        assert_close(result.flow.reynolds, 634.08, 1e-4);
        assert_close(result.friction_factor, 0.10093, 1e-4);
        let poiseuille = 32.0 * nu * 10.0 * result.flow.velocity / (GRAVITY * 0.02 * 0.02);
        assert_close(result.head_loss, poiseuille, 1e-9);
        assert_close(result.head_loss, 2.606e-3, 1e-3);
    }

    // Regime boundaries in a 50 mm pipe: Re = 4Q/(π·D·ν), so Re = 2000 at
    // Q = 2000·π·0.05·1.004e-6/4 = 7.885e-5 m³/s and Re = 4000 at twice that.
    #[test]
    fn reynolds_regime_boundaries_in_a_50_mm_pipe() {
        let nu = WATER_KINEMATIC_VISCOSITY_20C;
        let at_2000 = 2000.0 * PI * 0.05 * nu / 4.0;
        assert_close(at_2000, 7.885e-5, 1e-3);

        let regime = |flow: f64| pipe_flow(flow, 0.05, nu).expect("valid input").regime;
        assert_eq!(regime(at_2000 * 0.99), FlowRegime::Laminar);
        assert_eq!(regime(at_2000 * 1.01), FlowRegime::Transitional);
        assert_eq!(regime(at_2000 * 1.99), FlowRegime::Transitional);
        assert_eq!(regime(at_2000 * 2.01), FlowRegime::Turbulent);
        assert_close(
            pipe_flow(at_2000, 0.05, nu).expect("valid input").reynolds,
            2000.0,
            1e-12,
        );
    }

    // The transitional bridge meets 64/Re at Re 2000 and Swamee–Jain at Re 4000.
    #[test]
    fn transitional_friction_factor_is_continuous() {
        let eps = 1e-4;
        let (below, _) = friction_factor(LAMINAR_LIMIT - 1e-6, eps);
        let (at_low, method) = friction_factor(LAMINAR_LIMIT, eps);
        let (at_high, _) = friction_factor(TURBULENT_LIMIT, eps);
        let (above, _) = friction_factor(TURBULENT_LIMIT + 1e-6, eps);

        assert_eq!(method, FrictionMethod::Interpolated);
        assert_close(at_low, below, 1e-6);
        assert_close(at_high, above, 1e-6);
    }

    // Pump: Q = 0.05 m³/s against H = 30 m at η = 0.75.
    //   ρ = 1000: P = 1000·9.81·0.05·30 = 14 715 W; shaft 14 715/0.75 = 19 620 W
    //   ρ = 998.2 (20 °C): P = 14 688.5 W; shaft 19 584.7 W
    #[test]
    fn pump_power_50_l_s_at_30_m() {
        let cold = pump_power(0.05, 30.0, 0.75, 1000.0, GRAVITY).expect("valid input");
        let warm = pump_power(0.05, 30.0, 0.75, WATER_DENSITY_20C, GRAVITY).expect("valid input");

        assert_close(cold.hydraulic, 14_715.0, 1e-12);
        assert_close(cold.shaft, 19_620.0, 1e-12);
        assert_close(warm.hydraulic, 14_688.5, 1e-5);
        assert_close(warm.shaft, 19_584.7, 1e-5);
    }

    // Tank: a 2 m diameter cylinder (A_t = π m²) with 4 m of water drains through a 50 mm
    // sharp-edged orifice (a = 1.9635e-3 m², C_d = 0.61).
    //   A_t/(C_d·a) = 3.1416/(0.61·1.9635e-3) = 2622.95
    //   √(2h/g) = √(8/9.81) = 0.90305 → t = 2368.6 s ≈ 39.5 min
    #[test]
    fn tank_drain_2_m_cylinder_through_50_mm_orifice() {
        let t = tank_drain_time(
            circle_area(2.0),
            4.0,
            circle_area(0.05),
            SHARP_ORIFICE_DISCHARGE_COEFFICIENT,
            GRAVITY,
        )
        .expect("valid input");

        assert_close(t, 2368.6, 1e-4);
    }

    // Draining time goes with √h: a quarter of the depth takes half the time.
    #[test]
    fn tank_drain_time_scales_with_square_root_of_depth() {
        let full = tank_drain_time(10.0, 4.0, 0.01, 0.61, GRAVITY).expect("valid input");
        let quarter = tank_drain_time(10.0, 1.0, 0.01, 0.61, GRAVITY).expect("valid input");

        assert_close(full / quarter, 2.0, 1e-12);
    }

    #[test]
    fn rejects_values_that_are_not_positive_finite_or_sensible() {
        let cases = [
            (hazen_williams_head_loss(0.0, 0.3, 1000.0, 100.0), "flow"),
            (
                hazen_williams_head_loss(0.1, -0.3, 1000.0, 100.0),
                "diameter",
            ),
            (
                hazen_williams_head_loss(0.1, 300.0, 1000.0, 100.0),
                "diameter",
            ),
            (
                hazen_williams_head_loss(0.1, 0.3, f64::NAN, 100.0),
                "length",
            ),
            (hazen_williams_head_loss(0.1, 0.3, 1000.0, 1000.0), "c"),
            (
                hazen_williams_head_loss(0.1, 0.3, 1000.0, f64::INFINITY),
                "c",
            ),
        ];
        for (result, parameter) in cases {
            let error = result.expect_err("invalid input");
            assert_eq!(error.parameter(), parameter, "{error}");
        }
    }

    #[test]
    fn rejects_bad_roughness_efficiency_and_orifice() {
        let nu = WATER_KINEMATIC_VISCOSITY_20C;
        let rough = darcy_weisbach_head_loss(0.1, 0.3, 10.0, -1e-4, nu).expect_err("negative");
        let too_rough = darcy_weisbach_head_loss(0.1, 0.3, 10.0, 0.02, nu).expect_err("> 5 %");
        let viscosity = darcy_weisbach_head_loss(0.1, 0.3, 10.0, 1e-4, 0.0).expect_err("zero");
        let efficiency = pump_power(0.05, 30.0, 75.0, 998.2, GRAVITY).expect_err("percent");
        let orifice = tank_drain_time(1.0, 2.0, 1.0, 0.61, GRAVITY).expect_err("too large");

        assert_eq!(rough.parameter(), "roughness");
        assert_eq!(too_rough.parameter(), "roughness");
        assert_eq!(viscosity.parameter(), "kinematic_viscosity");
        assert_eq!(efficiency.parameter(), "efficiency");
        assert!(efficiency.reason().contains("at most 1"), "{efficiency}");
        assert_eq!(orifice.parameter(), "orifice_area");
        assert!(darcy_weisbach_head_loss(0.1, 0.3, 10.0, 0.0, nu).is_ok());
    }

    #[test]
    fn error_messages_name_the_parameter_and_unit() {
        let error = hazen_williams_head_loss(0.1, 300.0, 1000.0, 100.0).expect_err("300 m");

        assert_eq!(
            error.to_string(),
            "diameter: must be more than 0 and at most 10 m, got 300 m"
        );
    }
}
