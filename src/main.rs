//! `kubectl-amp_iam`: kubectl maps `kubectl amp-iam …` to this executable.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `kubectl_complete-amp_iam` runs this binary to answer a completion; it exits here.
    amp_iam::completion::complete_from_env();
    // clap prints --help/--version (exit 0) and usage errors (exit 2) itself.
    let cli = amp_iam::cli::Cli::parse();
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
    let code = runtime.block_on(amp_iam::run::run(cli));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
