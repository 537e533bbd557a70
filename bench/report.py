#!/usr/bin/env python3
"""Turns bench/run.sh's logs into BENCHMARKS.md.

    report.py --out target/bench --command "bench/run.sh" --delay-ms 50 \
              --binary PATH --venv .venv --md BENCHMARKS.md

Reads OUT/{fresh,noop,pod_identity,many_policies,guide}.jsonl (one line per AWS call,
from latency_proxy.py), OUT/{fresh,noop,pod_identity,many_policies,guide,help}.json (from
timed.py) and OUT/stripped (the stripped binary). many_policies is a fresh setup in an
account that bench/run.sh seeded with SEEDED_POLICIES local policies first.
Per run: calls; writes; depth = (last call's end - first call's start) / delay; the
longest chain of calls each starting after the previous one ended (the round trips on
the critical path); the most calls in flight at once.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess

WRITE_PREFIXES = ("Create", "Update", "Attach", "Detach", "Delete", "Add", "Remove", "Tag",
                  "Put", "POST ", "DELETE ", "PUT ", "PATCH ")
MB = 1_000_000
SEEDED_POLICIES = 2500  # bench/run.sh: seed_policies.py --count 2500


def load_calls(path):
    with open(path) as f:
        calls = [json.loads(line) for line in f if line.strip()]
    return sorted(calls, key=lambda c: c["start"])


def longest_chain(calls):
    """The longest sequence of calls where each starts after the previous one ended."""
    best = []  # best[i]: longest chain ending with calls[i]
    for c in calls:
        before = [b for b, p in zip(best, calls) if p["end"] <= c["start"]]
        best.append(max(before, key=len, default=[]) + [c])
    return max(best, key=len, default=[])


def max_in_flight(calls):
    events = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls],
                    key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def figures(out, name, delay_s):
    calls = load_calls(os.path.join(out, f"{name}.jsonl"))
    with open(os.path.join(out, f"{name}.json")) as f:
        timed = json.load(f)
    span = (calls[-1]["end"] - calls[0]["start"]) if calls else 0.0
    return {
        "calls": calls,
        "wall_ms": timed["wall_ms"][0],
        "process": timed["monotonic_spans"][0],  # [start, end], the proxy's clock
        "peak_rss_kb": timed.get("peak_rss_kb"),
        "rss_source": timed.get("rss_source"),
        "n": len(calls),
        "writes": [c["action"] for c in calls if c["action"].startswith(WRITE_PREFIXES)],
        "span_ms": span * 1000,
        "depth": round(span / delay_s, 1),
        "chain": longest_chain(calls),
        "in_flight": max_in_flight(calls),
        "errors": [c for c in calls if c["status"] >= 400],
        "mean_call_ms": (sum(c["end"] - c["start"] for c in calls) / len(calls) * 1000
                         if calls else 0.0),
    }


def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def machine():
    cpu = mem = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("MemTotal"))
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{run('nproc')} CPUs ({cpu}), {mem} RAM, {platform.system()} {platform.release()}; "
            f"load average {load} when the report was written")


def timeline(run_figures):
    calls = run_figures["calls"]
    t0, t_exit = run_figures["process"]
    on_chain = {id(c) for c in run_figures["chain"]}
    rows = ["| # | start (ms) | end (ms) | action | status | on the longest chain |",
            "|---:|---:|---:|---|---:|:---:|",
            "| | 0.0 | | *process starts* | | |"]
    for i, c in enumerate(calls, 1):
        rows.append(f"| {i} | {(c['start'] - t0) * 1000:.1f} | {(c['end'] - t0) * 1000:.1f} | "
                    f"`{c['action']}` | {c['status']} | {'●' if id(c) in on_chain else ''} |")
    rows.append(f"| | | {(t_exit - t0) * 1000:.1f} | *process exits* | | |")
    return rows


def verdict(ok):
    return "**pass**" if ok else "**FAIL**"


def main():
    p = argparse.ArgumentParser()
    for flag in ("--out", "--command", "--binary", "--venv", "--md"):
        p.add_argument(flag, required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    a = p.parse_args()
    delay_s = a.delay_ms / 1000
    runs = {name: figures(a.out, name, delay_s)
            for name in ("fresh", "noop", "pod_identity", "many_policies", "guide")}
    fresh, noop, guide = runs["fresh"], runs["noop"], runs["guide"]
    many = runs["many_policies"]
    list_policies = {name: sum(1 for c in r["calls"] if c["action"] == "ListPolicies")
                     for name, r in runs.items()}
    with open(os.path.join(a.out, "help.json")) as f:
        help_timed = json.load(f)
    help_ms = help_timed["median_ms"]
    stripped = os.path.getsize(os.path.join(a.out, "stripped"))
    on_disk = os.path.getsize(a.binary)
    ratio = guide["wall_ms"] / fresh["wall_ms"]
    rss_mb = fresh["peak_rss_kb"] * 1024 / MB
    tool = os.path.join(a.out, "kubectl-amp_iam")
    py = os.path.join(a.venv, "bin", "python")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    md = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.sh` (see bench/report.py); do not edit the numbers by hand.",
        "",
        "What it measures: the AWS critical path of `kubectl-amp_iam setup -n prometheus`",
        "against [moto](https://pypi.org/project/moto/) behind `bench/latency_proxy.py`.",
        f"The proxy holds every AWS call for {a.delay_ms:g} ms, a stand-in for the network",
        "round trip to IAM, and logs the start and end of each call. It compares with the",
        "AWS guide's manual procedure (its two scripts, ingest then query) done with the aws",
        "CLI (`bench/guide_procedure.sh`), against a fresh moto through the same proxy.",
        "The same setup in EKS Pod Identity mode (`--mode pod-identity`) runs on a fresh",
        "account and cluster too, with the `eks-pod-identity-agent` add-on installed.",
        f"And a fresh setup runs in an account that already holds {SEEDED_POLICIES:,} customer",
        "managed policies (`team-policy-0001`…, seeded by `bench/seed_policies.py` directly",
        "against moto, not through the proxy, before the measured run).",
        "",
        f"- command: `{a.command}`",
        f"- date: {now}",
        f"- machine: {machine()}",
        f"- delay per AWS call: {a.delay_ms:g} ms",
        f"- tool: `{run(tool, '--version')}` (`{a.binary}`); bench at `{run('git', 'log', '-1', '--format=%h')}`",
        f"- moto {run(py, '-c', 'import moto; print(moto.__version__)')}; "
        f"`{run(os.path.join(a.venv, 'bin', 'aws'), '--version')}`",
        "",
        "## AWS critical path",
        "",
        "| run | wall time | AWS calls | writes | depth | longest chain | max in flight | mean call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"fresh": "tool: fresh `setup`", "noop": "tool: re-run (nothing to do)",
              "pod_identity": "tool: fresh `setup --mode pod-identity`",
              "many_policies": f"tool: fresh `setup`, {SEEDED_POLICIES:,} local policies",
              "guide": "guide's procedure, aws CLI"}
    short = {"fresh": "fresh setup", "noop": "re-run", "pod_identity": "Pod Identity",
             "many_policies": f"{SEEDED_POLICIES:,} policies", "guide": "guide"}
    for name, r in runs.items():
        md.append(f"| {labels[name]} | {r['wall_ms']:.0f} ms | {r['n']} | {len(r['writes'])} | "
                  f"{r['depth']} | {len(r['chain'])} | {r['in_flight']} | {r['mean_call_ms']:.1f} ms |")
    md += [
        "",
        f"- depth = (last call's end − first call's start) / {a.delay_ms:g} ms: the AWS span",
        "  in units of one round trip. Anything above the chain length is time spent in moto,",
        "  in the client, or between calls.",
        "- longest chain: the most calls where each one starts after the previous one",
        "  ended: the round trips on the critical path.",
        f"- mean call: a call's time at the proxy, its {a.delay_ms:g} ms delay included; the rest is",
        "  moto's and the proxy's own time. So a chain of N calls has a depth of N plus that",
        "  excess over the delay: 4 chained calls give 4.0 only if moto answered instantly.",
        "- wall time: the whole process, time.perf_counter() around subprocess.run. For the",
        "  tool, it includes start-up, the Kubernetes calls (to a local stand-in, not delayed),",
        "  and `/usr/bin/time` (used for the peak RSS) when it is there.",
        f"- **the guide's procedure takes {ratio:.1f}× the tool's wall time** (fresh setup).",
        f"- {SEEDED_POLICIES:,} local policies: the account held {SEEDED_POLICIES:,} customer managed",
        f"  policies before the run. It made {list_policies['many_policies']} `ListPolicies` calls"
        " (1,000 policies a page, pages read one after another; expected 0: with the account in"
        " the kubeconfig context, the recipe's policies are read by ARN). Other runs: "
        + ", ".join(f"{short[name]} {n}" for name, n in list_policies.items()
                    if name != "many_policies") + ".",
        "",
        "## The binary",
        "",
        f"- `kubectl-amp_iam --help`: {help_ms:.1f} ms (median of {help_timed['runs']} runs)",
        f"- peak RSS of the fresh `setup`: {rss_mb:.1f} MB ({fresh['peak_rss_kb']} kB, {fresh['rss_source']});"
        f" re-run: {noop['peak_rss_kb'] * 1024 / MB:.1f} MB",
        f"- stripped binary: {stripped / MB:.1f} MB ({stripped} bytes; {on_disk} on disk)",
        "",
        "MB = 10⁶ bytes.",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| fresh setup depth ≤ 4 | {fresh['depth']} (longest chain {len(fresh['chain'])}) | "
        f"{verdict(fresh['depth'] <= 4)} |",
        f"| re-run depth ≤ 3, 0 writes | {noop['depth']} (longest chain {len(noop['chain'])}), "
        f"{len(noop['writes'])} writes | "
        f"{verdict(noop['depth'] <= 3 and not noop['writes'])} |",
        f"| fresh setup with {SEEDED_POLICIES:,} local policies: longest chain ≤ 4 | "
        f"{len(many['chain'])} (depth {many['depth']}), {list_policies['many_policies']} "
        f"`ListPolicies` | {verdict(len(many['chain']) <= 4)} |",
        f"| ≥ 30× faster than the guide's CLI procedure | {ratio:.1f}× | {verdict(ratio >= 30)} |",
        f"| `--help` < 20 ms | {help_ms:.1f} ms | {verdict(help_ms < 20)} |",
        f"| peak memory < 40 MB | {rss_mb:.1f} MB | {verdict(rss_mb < 40)} |",
        f"| binary < 15 MB | {stripped / MB:.1f} MB | {verdict(stripped < 15 * MB)} |",
        "",
        "## Per-call timelines",
        "",
        "Offsets from the process start (the proxy's log and the timer share one monotonic",
        "clock); ● marks one longest chain.",
        "",
    ]
    for name, r in runs.items():
        md += [f"### {labels[name]}", ""] + timeline(r) + [""]
        if r["errors"]:
            names = ", ".join(f"`{c['action']}`" for c in r["errors"])
            md += [f"Answered ≥ 400: {names} (looking for what does not exist yet).", ""]
    md += [
        "## Caveats",
        "",
        "- moto has no EKS Pod Identity or add-on API: tests/support/moto_server.py (which",
        "  starts every moto here) emulates them in moto's process, as fast as moto's own",
        "  answers, and installs the `eks-pod-identity-agent` add-on on the cluster.",
        "- Each moto is warmed up before it is measured (read-only calls made directly, not",
        "  through the proxy): moto builds a service's state on its first call, and for IAM",
        "  (which loads the AWS managed policies) that takes most of a second.",
        "- moto is not IAM: it answers in a few milliseconds, has no eventual consistency, and",
        "  accepts a role whose trusted OIDC provider does not exist yet. Real IAM rejects",
        "  that, so the guide's order (roles before `eksctl utils associate-iam-oidc-provider`)",
        "  fails on a fresh account in AWS; here it goes through.",
        "- `eksctl utils associate-iam-oidc-provider` is replaced by the aws CLI calls it makes",
        "  for the association (DescribeCluster, GetOpenIDConnectProvider,",
        "  CreateOpenIDConnectProvider when missing). eksctl's other calls (CloudFormation",
        "  look-ups, the issuer's TLS thumbprint) are left out. Each aws CLI call is a Python",
        "  process start, which is most of the guide's wall time.",
        "- The proxy answers with TCP_NODELAY, head and body in one write: Python's",
        "  http.server otherwise adds about 40 ms to an answer (Nagle's algorithm against the",
        "  client's delayed ACK), which would show up as gaps between dependent calls.",
        "- The tool also writes the two ServiceAccounts (not part of the guide); its",
        "  Kubernetes calls are included in its wall time, not in its AWS figures.",
        "",
    ]
    with open(a.md, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
