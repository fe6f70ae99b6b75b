//! `hydronet-load`: load benchmarks of the HydroNet tenancy stack and reference server,
//! written up as a Markdown report with PNG charts.
//!
//! ```text
//! cargo run --release -p hydronet-load -- --out benches/REPORT.md
//! cargo run --release -p hydronet-load -- --quick --out /tmp/REPORT.md   # smoke run
//! ```
//!
//! Servers under test run as child processes of this binary (`serve <kind>`, hidden), so
//! their CPU time is read apart from the load generator's. B3 needs Redis
//! (`HYDRONET_BENCH_REDIS_URL`) and B4 PostgreSQL (`HYDRONET_BENCH_DATABASE_URL`); each is
//! reported as skipped, with the reason, when its variable is unset.

mod b1;
mod b2;
mod b3;
mod b4;
mod b5;
mod chart;
mod child;
mod client;
mod font;
mod png;
mod report;
mod saas;
mod serve;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::client::BoxError;
use crate::report::{Report, Section};

/// Load benchmarks of HydroNet, written up as a Markdown report with PNG charts.
#[derive(Debug, Parser)]
#[command(name = "hydronet-load")]
struct Cli {
    /// Where to write the report; charts go in `report/` beside it.
    #[arg(long, default_value = "benches/REPORT.md")]
    out: PathBuf,
    /// A short smoke run of every benchmark (a few seconds each).
    #[arg(long)]
    quick: bool,
    /// Runs only these parts (`b1` to `b5`, comma-separated); the report lists the others
    /// as not run.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a server under test (used by the benchmarks themselves).
    #[command(hide = true)]
    Serve {
        /// `bare`, `stack`, `mock` or `saas`.
        kind: String,
    },
}

/// How long each part runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// A smoke run.
    pub(crate) quick: bool,
    /// Warm-up before each measured run.
    pub(crate) warmup: Duration,
    /// A closed-loop capacity run.
    pub(crate) capacity: Duration,
    /// One open-loop rate step.
    pub(crate) step: Duration,
}

impl Plan {
    fn new(quick: bool) -> Self {
        let secs = |full: u64, smoke: u64| Duration::from_secs(if quick { smoke } else { full });
        Self {
            quick,
            warmup: Duration::from_millis(if quick { 300 } else { 2_000 }),
            capacity: secs(10, 1),
            step: secs(8, 1),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve { kind }) => serve::run(&kind),
        None => run(&cli.out, Plan::new(cli.quick), &cli.only),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: &std::path::Path, plan: Plan, only: &[String]) -> Result<(), BoxError> {
    let charts = out
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("report");
    std::fs::create_dir_all(&charts)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut report = Report::new(report::Machine::detect(), plan.quick);

    let parts: [(&str, PartFn); 5] = [
        ("B1 tenancy tax", |p, c| Box::pin(b1::run(p, c))),
        ("B2 gateway overhead", |p, c| Box::pin(b2::run(p, c))),
        ("B3 limiter accuracy", |p, c| Box::pin(b3::run(p, c))),
        ("B4 audit sink", |p, c| Box::pin(b4::run(p, c))),
        ("B5 login storm", |p, c| Box::pin(b5::run(p, c))),
    ];
    let mut failures = Vec::new();
    for (name, part) in parts {
        let id = name.split(' ').next().unwrap_or(name).to_ascii_lowercase();
        if !only.is_empty() && !only.contains(&id) {
            report
                .sections
                .push(Section::skipped(name, "Not run: `--only` left it out."));
            continue;
        }
        eprintln!("== {name}");
        match runtime.block_on(part(plan, charts.clone())) {
            Ok(section) => report.sections.push(section),
            Err(err) => {
                eprintln!("{name} failed: {err}");
                failures.push(format!("{name}: {err}"));
                report
                    .sections
                    .push(Section::failed(name, &err.to_string()));
            }
        }
    }

    std::fs::write(out, report.render())?;
    eprintln!("report written to {}", out.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}

type PartFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Section, BoxError>>>>;
type PartFn = fn(Plan, PathBuf) -> PartFuture;
