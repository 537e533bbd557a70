#!/usr/bin/env python3
"""Runs a command and writes what it cost as JSON.

    timed.py --out result.json [--runs N] [--rss] [--output-file run.log] -- CMD ARGS...

Wall time is time.perf_counter() around subprocess.run, per run (ms); `median_ms` is
their median. With --rss, also the peak RSS (kB), the child's maximum resident set size:
from GNU `/usr/bin/time -v` when it is there (its own fork/exec stays inside the wall time, about
a millisecond), else from resource.getrusage(RUSAGE_CHILDREN) after the child exits.
`monotonic_spans` holds each run's [start, end] on time.monotonic(), the clock of
latency_proxy.py's log. The command's stdout and stderr go to --output-file (default: discarded). A non-zero
exit of any run makes this exit non-zero too, after writing the JSON.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

GNU_TIME = "/usr/bin/time"


def gnu_time_available():
    try:
        out = subprocess.run([GNU_TIME, "-v", "true"], capture_output=True, text=True)
    except OSError:
        return False
    return "Maximum resident set size" in out.stderr


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--rss", action="store_true", help="also measure peak RSS")
    p.add_argument("--output-file")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd

    use_time = a.rss and gnu_time_available()
    sink = open(a.output_file, "w") if a.output_file else subprocess.DEVNULL
    walls, codes, rss, spans = [], [], [], []
    for _ in range(a.runs):
        with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as tf:
            full = [GNU_TIME, "-v", "-o", tf.name, *cmd] if use_time else cmd
            spans.append([time.monotonic()])
            t0 = time.perf_counter()
            done = subprocess.run(full, stdout=sink, stderr=sink)
            walls.append((time.perf_counter() - t0) * 1000.0)
            spans[-1].append(time.monotonic())
            codes.append(done.returncode)
            if use_time:
                for line in tf.read().splitlines():
                    if "Maximum resident set size" in line:
                        rss.append(int(line.rsplit(":", 1)[1]))
    if a.rss and not use_time:  # the largest of all children so far, which are only these runs
        rss.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)

    result = {"cmd": cmd, "runs": a.runs, "wall_ms": walls,
              "median_ms": statistics.median(walls), "exit_codes": codes,
              "monotonic_spans": spans,
              "peak_rss_kb": max(rss) if rss else None,
              "rss_source": ("/usr/bin/time -v" if use_time else "getrusage(RUSAGE_CHILDREN)")
              if a.rss else None}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
