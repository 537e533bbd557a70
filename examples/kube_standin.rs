//! Runs the Kubernetes API stand-in of the tests as a process, for demos:
//!
//! ```text
//! cargo run --example kube_standin -- --port 18080 [--log]
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` once it accepts requests and
//! serves until killed. It starts empty: the tool creates what it needs.
//! `--log` prints each request and its status to stderr.

#[path = "../tests/support/kube_standin.rs"]
mod kube_standin;

use std::io::Write;

const USAGE: &str = "usage: kube_standin --port N [--log]";

struct Args {
    port: u16,
    log: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut log = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" => args.next(),
            "--log" => {
                log = true;
                continue;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => match other.strip_prefix("--port=") {
                Some(v) => Some(v.to_string()),
                None => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            },
        };
        let value = value.ok_or_else(|| format!("--port needs a value\n{USAGE}"))?;
        port = Some(
            value
                .parse::<u16>()
                .map_err(|e| format!("bad --port {value:?}: {e}\n{USAGE}"))?,
        );
    }
    Ok(Args {
        port: port.ok_or_else(|| USAGE.to_string())?,
        log,
    })
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let listener = match std::net::TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", args.port);
            std::process::exit(1);
        }
    };
    let standin = kube_standin::KubeStandin::start_on(listener).await;
    standin.set_log(args.log);
    // Port 0 picks a free port; uri() names the one actually bound.
    println!("listening on {}", standin.uri());
    // The demo script waits for this line; make sure it is not stuck in a buffer.
    let _ = std::io::stdout().flush();
    // Serve until killed (SIGTERM/SIGKILL) or interrupted.
    let _ = tokio::signal::ctrl_c().await;
}
