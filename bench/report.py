#!/usr/bin/env python3
"""Turns bench/run.sh's logs into BENCHMARKS.md.

    report.py --out target/bench --command "bench/run.sh" --delay-ms 50 \
              --binary PATH --venv .venv --md BENCHMARKS.md

Reads OUT/{fresh,noop,pod_identity,many_policies,guide}.jsonl (one line per AWS call,
from latency_proxy.py), OUT/{fresh,noop,pod_identity,many_policies,guide,help}.json (from
timed.py) and OUT/stripped (the stripped binary). many_policies is a fresh setup in an
account that bench/run.sh seeded with SEEDED_POLICIES local policies first.
With --fleet-sizes "1 5 20", also OUT/fleet-N-{fleet,separate}.{jsonl,json,out}: per N, one
fleet run over N clusters against N single-cluster runs one after another (issue 13); and
for N above --fleet-parallel (--parallel's default), OUT/fleet-N-parallel.*: the same fleet
run with `--parallel N`.
Per run: calls; writes; depth = (last call's end - first call's start) / delay; the
longest chain of calls each starting after the previous one ended (the round trips on
the critical path); the most calls in flight at once.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess

WRITE_PREFIXES = ("Create", "Update", "Attach", "Detach", "Delete", "Add", "Remove", "Tag",
                  "Put", "POST ", "DELETE ", "PUT ", "PATCH ")
MB = 1_000_000
SEEDED_POLICIES = 2500  # bench/run.sh: seed_policies.py --count 2500
# The account-level reads a fleet run makes once per account and shares (issue 13).
ACCOUNT_READS = ("GetCallerIdentity", "ListOpenIDConnectProviders", "GetPolicy", "ListPolicies")
FLEET_TEMPLATE = "amp-{cluster}-{kind}"  # bench/run.sh: fleet_template
FLEET_PARALLEL = 16  # --parallel's default (bench/run.sh reads it from `setup --help`)
# The last line of a fleet run's text output.
FLEET_SUMMARY = re.compile(
    r"^(?P<clusters>\d+) clusters: (?P<ok>\d+) ok, (?P<drift>\d+) drift, (?P<refused>\d+) refused, "
    r"(?P<failed>\d+) failed; (?P<applied>\d+) changes applied; STS/IAM reads: (?P<sent>\d+) sent, "
    r"(?P<shared>\d+) answered by another cluster's; exit (?P<exit>\d+)$")


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


def fleet_figures(out, n, variant, delay_s):
    """One variant of the fleet comparison: the figures above, plus its account-level
    reads, exit code and (fleet, parallel) the tool's own summary line, or (separate) how
    many of the single-cluster runs exited 0."""
    name = f"fleet-{n}-{variant}"
    r = figures(out, name, delay_s)
    with open(os.path.join(out, f"{name}.json")) as f:
        r["exit_code"] = json.load(f)["exit_codes"][0]
    with open(os.path.join(out, f"{name}.out"), errors="replace") as f:
        text = f.read()
    r["output"] = text
    r["reads"] = {a: sum(1 for c in r["calls"] if c["action"] == a) for a in ACCOUNT_READS}
    r["summary"] = None
    r["runs_ok"] = None
    if variant != "separate":
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        m = FLEET_SUMMARY.match(lines[-1]) if lines else None
        r["summary"] = {k: int(v) for k, v in m.groupdict().items()} if m else None
        r["summary_line"] = lines[-1] if lines else "(no output)"
    else:
        r["runs_ok"] = text.count("== exit 0 ==")
    return r


def run_label(n, variant):
    """How a fleet variant is named in the report."""
    return {"fleet": "fleet", "parallel": f"fleet, `--parallel {n}`",
            "separate": "separate"}[variant]


def fleet_variants(n, parallel):
    """bench/run.sh's variants for N: a `--parallel N` run only when N is above the default."""
    return ("fleet", "parallel", "separate") if n > parallel else ("fleet", "separate")


def fleet_section(out, sizes, delay_ms, many, parallel=FLEET_PARALLEL):
    delay_s = delay_ms / 1000
    runs = {(n, v): fleet_figures(out, n, v, delay_s)
            for n in sizes for v in fleet_variants(n, parallel)}
    fleet_rows = [key for key in runs if key[1] != "separate"]
    over = [n for n in sizes if n > parallel]
    # A single cluster's run: the same `setup --context CTX --role-name TEMPLATE` alone.
    single = runs.get((1, "separate"))
    single_chain = len(single["chain"]) if single else None
    single_reads = single["reads"] if single else None
    md = [
        "## Fleet runs (issue 13)",
        "",
        "N EKS clusters (`c01`…) in one account, each on a fresh moto (a fresh account, the",
        "clusters made directly against moto, not through the proxy, then moto's read-only",
        f"warm-up), proxy ({delay_ms:g} ms per AWS call) and Kubernetes API stand-in. The",
        "kubeconfig has N contexts named by the clusters' ARNs, as `aws eks update-kubeconfig`",
        "writes them, all pointing at the one stand-in, each with its own namespace",
        "(`prom-c01`…) so that the clusters' ServiceAccounts do not collide there (hence no `-n`).",
        "",
        f"- **fleet**: one `kubectl-amp_iam setup --all-contexts --role-name '{FLEET_TEMPLATE}'`"
        f" (`--parallel` at its default, {parallel});",
    ]
    if over:
        md.append(
            f"- **fleet, `--parallel N`**: the same run with `--parallel N`, for each N above the"
            f" default {parallel} (here N={', '.join(map(str, over))}), so that no cluster waits"
            " for a slot;")
    md += [
        f"- **separate**: `kubectl-amp_iam setup --context CTX --role-name '{FLEET_TEMPLATE}'` for",
        "  each context, one after another, as a shell loop over the contexts would"
        " (`bench/separate_runs.sh`); its figures cover the whole loop.",
        "",
        "| N | run | exit | wall time (s) | AWS calls | writes | longest chain | depth | "
        + " | ".join(f"`{a}`" for a in ACCOUNT_READS)
        + " | separate ÷ this run's wall time | clusters ok | the tool's STS/IAM reads (sent / shared) | peak RSS |",
        "|---:|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(ACCOUNT_READS) + "---:|---:|---:|---:|",
    ]
    for n in sizes:
        sep = runs[(n, "separate")]
        for variant in fleet_variants(n, parallel):
            r = runs[(n, variant)]
            if variant != "separate":
                s = r["summary"]
                tool_reads = f"{s['sent']} / {s['shared']}" if s else "no summary line"
                ok = f"{s['ok']} of {s['clusters']}" if s else "?"
                ratio_cell = f"{sep['wall_ms'] / r['wall_ms']:.1f}×"
            else:
                tool_reads = "—"
                ok = f"{r['runs_ok']} of {n} (runs that exited 0)"
                ratio_cell = ""
            rss = f"{r['peak_rss_kb'] * 1024 / MB:.1f} MB" if r["peak_rss_kb"] else "?"
            md.append(
                f"| {n} | {run_label(n, variant)} | {r['exit_code']} | {r['wall_ms'] / 1000:.2f} | "
                f"{r['n']} | {len(r['writes'])} | {len(r['chain'])} | {r['depth']} | "
                + " | ".join(str(r["reads"][a]) for a in ACCOUNT_READS)
                + f" | {ratio_cell} | {ok} | {tool_reads} | {rss} |")
    md += [
        "",
        "- longest chain: computed as in the tables above (bench/report.py `longest_chain`):",
        "  from the proxy's log of every AWS call (its start and end), the most calls in which",
        "  each starts after the previous one ended, i.e. the round trips on the critical path.",
        "  For the separate runs it spans the whole loop, so their chains add up (each run",
        "  starts after the previous one exited).",
        "- account-level reads: the AWS calls with that action in the proxy's log (the proxy",
        "  logs the action, not its parameters: `GetPolicy` counts both of the guide's policies).",
        "- clusters ok: the fleet run's last line (`N clusters: K ok, …`); for separate, the",
        "  runs that exited 0.",
        "- the tool's STS/IAM reads: what the fleet run's last line reports (`STS/IAM reads:",
        "  X sent, Y answered by another cluster's`): the reads of its per-account cache, sent to",
        "  AWS or answered from another cluster's read (shared). They include the per-cluster",
        "  roles' reads (`GetRole`, `ListAttachedRolePolicies`: distinct names with the",
        "  template), so \"sent\" grows with N while the four account-level reads above do not.",
        "- peak RSS: /usr/bin/time around the whole variant (for separate, the largest of its",
        "  runs).",
        "- writes: the AWS calls that change something (Create…, Attach…, Tag…, …), as above.",
        "",
    ]
    # The longest chains of the fleet runs, call by call.
    for n, variant in fleet_rows:
        chain = runs[(n, variant)]["chain"]
        md.append(f"- N={n}, {run_label(n, variant)}: longest chain ({len(chain)}) "
                  + " → ".join(f"`{c['action']}`" for c in chain))
    md += [
        "",
        "In a fleet run the chain can link calls of different clusters that merely did not",
        "overlap (one started late, after another cluster's call ended), so it bounds the",
        "dependent round trips from above; with dozens of calls in flight on this machine,",
        "calls do start late.",
    ]
    if over:
        md += [""] + waves_text(runs, over, parallel, single)
    md += [
        "",
        "### Targets (issue 13)",
        "",
        "> the fleet run's longest chain stays within one or two round trips of a single",
        "> cluster's, whatever N; no account-level read is repeated",
        "",
    ]
    if single is None:
        md += ["No N=1 run, so no single cluster's figures to compare with.", ""]
    else:
        md += [
            f"A single cluster's run is the N=1 separate run (`setup --context … --role-name "
            f"'{FLEET_TEMPLATE}'` alone): longest chain {single_chain}; account-level reads "
            + ", ".join(f"{single_reads[a]} `{a}`" for a in ACCOUNT_READS) + ". A fleet run's "
            "account-level reads are not repeated when each count is at most a single cluster's"
            " (the fleet reads the account once, whatever N), and the run exits 0 with every"
            " cluster ok. Every fleet run is checked, with the default `--parallel` and with"
            " `--parallel N`.",
            "",
            "| N | run | longest chain (single: " + str(single_chain) + ") | chain ≤ single + 2 |"
            " account-level reads | none repeated | exit, clusters ok | |",
            "|---:|---|---:|:---:|---|:---:|---|---|",
        ]
        for n, variant in fleet_rows:
            r = runs[(n, variant)]
            chain_ok = len(r["chain"]) <= single_chain + 2
            repeated = [a for a in ACCOUNT_READS if r["reads"][a] > single_reads[a]]
            s = r["summary"]
            clean = (r["exit_code"] == 0 and s is not None and s["clusters"] == n
                     and s["ok"] == n and s["exit"] == 0)
            status = (f"exit {r['exit_code']}, "
                      + (f"{s['ok']} of {s['clusters']} ok" if s else "no summary line"))
            reads = ", ".join(f"{r['reads'][a]} `{a}`" for a in ACCOUNT_READS)
            md.append(
                f"| {n} | {run_label(n, variant)} | {len(r['chain'])} "
                f"(+{len(r['chain']) - single_chain}) | {verdict(chain_ok)} | {reads} | "
                + (verdict(True) if not repeated else
                   f"{verdict(False)} ({', '.join(f'`{a}`' for a in repeated)})")
                + f" | {status} | {verdict(chain_ok and not repeated and clean)} |")
        md.append("")
    md += [
        f"> a fresh setup in an account with {SEEDED_POLICIES:,} local policies keeps the"
        " single-cluster chain of 4",
        "",
        f"Measured by the run above (tool: fresh `setup`, {SEEDED_POLICIES:,} local policies; see"
        f" *AWS critical path* and *Targets*): longest chain {len(many['chain'])}, "
        f"{sum(1 for c in many['calls'] if c['action'] == 'ListPolicies')} `ListPolicies` — "
        f"{verdict(len(many['chain']) <= 4)}.",
        "",
    ]
    for (n, variant), r in runs.items():
        if r["exit_code"] != 0 or (variant != "separate" and r["summary"] is None):
            tail = "\n".join(r["output"].rstrip().splitlines()[-15:])
            why = ("" if variant == "separate" or r["summary"] is not None
                   else " and its last line is not the fleet summary (`N clusters: K ok, …`)")
            md += [f"N={n} {run_label(n, variant)} exited {r['exit_code']}{why}; the end of its"
                   " output:", "", "```", tail, "```", ""]
    return md


def waves_text(runs, over, parallel, single):
    """What --parallel does to the chain of the fleets larger than it, from the figures."""
    md = []
    if single is None:
        return [f"N={', '.join(map(str, over))} is more than `--parallel`'s default ({parallel});"
                " with no N=1 run there is no single cluster's chain to compare with."]
    s_chain = len(single["chain"])
    s_writes = sum(1 for c in single["chain"] if c["action"].startswith(WRITE_PREFIXES))
    s_reads = s_chain - s_writes
    target = s_chain + 2
    md.append(
        f"With `--parallel` at its default ({parallel}) a fleet works on {parallel} clusters at"
        " once and starts each of the others when a slot frees up, in the observe round and"
        " again in the apply round; a fleet of N clusters runs in ⌈N / "
        f"{parallel}⌉ waves. A single cluster's observe and apply is its chain of {s_chain}"
        f" round trips ({s_reads} read{'s' if s_reads != 1 else ''} then {s_writes}"
        f" write{'s' if s_writes != 1 else ''}, on the N=1 separate run's chain).")
    md.append("")
    for n in over:
        x = len(runs[(n, "fleet")]["chain"])
        y = len(runs[(n, "parallel")]["chain"])
        waves = -(-n // parallel)
        extra = waves - 1
        per_wave = (x - y) / extra
        md.append(
            f"- N={n}: {waves} waves with the default `--parallel {parallel}`"
            f" ({n - parallel} cluster{'s' if n - parallel != 1 else ''} waiting for a slot):"
            f" longest chain {x} (+{x - s_chain} over a single cluster's {s_chain});"
            f" with `--parallel {n}`, 1 wave: {y} (+{y - s_chain}). The waiting costs"
            f" {x - y} round trip{'s' if x - y != 1 else ''}, {per_wave:g} per extra wave,"
            f" against a single cluster's observe and apply of {s_chain}.")
    md.append("")
    # One sentence over all the sizes above the default, each part as the figures say.
    xs = {n: len(runs[(n, "fleet")]["chain"]) for n in over}
    ys = {n: len(runs[(n, "parallel")]["chain"]) for n in over}
    per = {n: (xs[n] - ys[n]) / (-(-n // parallel) - 1) for n in over}
    grows = all(xs[n] > target for n in over)
    about = all(abs(per[n] - s_chain) <= 1 for n in over)
    within = all(ys[n] <= target for n in over)
    if grows and about:
        first = (f"with the default `--parallel {parallel}`, a fleet larger than {parallel} waits"
                 " for slots, so its chain grows by about one cluster's observe and apply per"
                 f" extra wave, beyond the target (≤ {target})")
    elif grows:
        first = (f"with the default `--parallel {parallel}`, a fleet larger than {parallel} waits"
                 f" for slots and its chain is beyond the target (≤ {target}: "
                 + ", ".join(f"{xs[n]} at N={n}" for n in over) + "), but the waiting costs "
                 + ", ".join(f"{per[n]:g} (N={n})" for n in over)
                 + " round trips per extra wave against `--parallel N`, not about one"
                 f" cluster's observe and apply ({s_chain})")
    else:
        first = (f"with the default `--parallel {parallel}`, a fleet larger than {parallel} waits"
                 f" for slots, but here its chain did not always go beyond the target (≤ {target}: "
                 + ", ".join(f"{xs[n]} at N={n}" for n in over) + ")")
    if within:
        second = f"with `--parallel ≥ N` the chain stays within the target ({', '.join(f'{ys[n]} at N={n}' for n in over)})"
    else:
        second = ("even with `--parallel ≥ N` the chain is beyond the target: "
                  + ", ".join(f"{ys[n]} at N={n}" for n in over))
    md.append(f"So, {first}; {second}.")
    return md




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
    p.add_argument("--fleet-sizes", default="",
                   help='the N of the fleet runs, e.g. "1 5 20" (none: no fleet section)')
    p.add_argument("--fleet-parallel", type=int, default=FLEET_PARALLEL,
                   help="--parallel's default: each fleet size above it also has a `--parallel N` run")
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
    ]
    sizes = [int(n) for n in a.fleet_sizes.split()]
    if sizes:
        md += fleet_section(a.out, sizes, a.delay_ms, many, a.fleet_parallel)
    md += [
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
