//! `kubectl-amp_iam`: kubectl maps `kubectl amp-iam …` to this executable.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `kubectl_complete-amp_iam` runs this binary to answer a completion; it exits here.
    amp_iam::completion::complete_from_env();
    // clap prints --help/--version (exit 0) and usage errors (exit 2); with
    // `-o json|yaml`, a usage error also gets its error document on stdout.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match amp_iam::cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return exit_code(amp_iam::run::usage_error(&e, &args)),
    };
    amp_iam::run::init_tracing(cli.global.verbose);
    // One task drives every call; concurrency comes from joined futures.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    exit_code(runtime.block_on(amp_iam::run::run(cli)))
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
