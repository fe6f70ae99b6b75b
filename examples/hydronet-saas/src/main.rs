//! `hydronet-saas`: the HydroNet reference server.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A `.env` file in the working directory fills in variables not already set.
    let _ = dotenvy::dotenv();
    let cli = hydronet_saas::cli::Cli::parse();
    hydronet_saas::cli::run(cli)
}
