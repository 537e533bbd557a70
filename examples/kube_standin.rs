//! Runs the Kubernetes API stand-in of the tests as a process, for demos:
//!
//! ```text
//! cargo run --example kube_standin -- --port 18080 [--log] [--seed-prometheus NS]
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` once it accepts requests and
//! serves until killed. It starts empty: the tool creates what it needs.
//! `--log` prints each request and its status to stderr.
//! `--seed-prometheus NS` first seeds namespace NS with a Deployment
//! `prometheus-server` (2 running pods) that runs as ServiceAccount
//! `amp-iamproxy-ingest-service-account`, started before the tool ran, so
//! without the role injected; the ServiceAccount itself is left to the tool.

#[path = "../tests/support/kube_standin.rs"]
mod kube_standin;

use std::io::Write;

const USAGE: &str = "usage: kube_standin --port N [--log] [--seed-prometheus NS]";
/// What the seeded Prometheus runs as: the ServiceAccount the tool annotates.
const PROMETHEUS_SERVICE_ACCOUNT: &str = "amp-iamproxy-ingest-service-account";

struct Args {
    port: u16,
    log: bool,
    seed_prometheus: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut log = false;
    let mut seed_prometheus = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // `--flag value` or `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        match flag.as_str() {
            "--log" if inline.is_none() => log = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--port" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("--port needs a value\n{USAGE}"))?;
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|e| format!("bad --port {value:?}: {e}\n{USAGE}"))?,
                );
            }
            "--seed-prometheus" => {
                let value = inline
                    .or_else(|| args.next())
                    .filter(|ns| !ns.is_empty() && !ns.starts_with('-'))
                    .ok_or_else(|| format!("--seed-prometheus needs a namespace\n{USAGE}"))?;
                seed_prometheus = Some(value);
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        port: port.ok_or_else(|| USAGE.to_string())?,
        log,
        seed_prometheus,
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
    if let Some(ns) = &args.seed_prometheus {
        // Seeded before serving: these pods predate everything the tool does.
        standin.add_deployment(ns, "prometheus-server", PROMETHEUS_SERVICE_ACCOUNT, 2);
    }
    standin.set_log(args.log);
    // Port 0 picks a free port; uri() names the one actually bound.
    println!("listening on {}", standin.uri());
    // The demo script waits for this line; make sure it is not stuck in a buffer.
    let _ = std::io::stdout().flush();
    // Serve until killed (SIGTERM/SIGKILL) or interrupted.
    let _ = tokio::signal::ctrl_c().await;
}
