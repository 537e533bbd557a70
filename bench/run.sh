#!/usr/bin/env bash
# Benchmark of kubectl-amp-iam's AWS critical path (issue 6), written to BENCHMARKS.md.
#
#   bench/run.sh
#
# moto (an AWS emulator, started through tests/support/moto_server.py, which emulates
# the EKS Pod Identity and add-on APIs moto lacks) sits behind bench/latency_proxy.py,
# which holds every AWS call for a fixed delay (BENCH_DELAY_MS, default 50) and logs its
# start and end. Through it:
#   a) `kubectl-amp_iam setup -n prometheus` on a fresh account (cluster `demo`);
#   b) the same command again (nothing to do);
#   c) `kubectl-amp_iam setup -n prometheus --mode pod-identity` on a fresh account, in
#      a fresh moto (the eks-pod-identity-agent add-on installed) and a fresh cluster;
#   d) `kubectl-amp_iam setup -n prometheus` on a fresh cluster in a fresh moto whose
#      account already holds 2,500 customer managed policies (bench/seed_policies.py,
#      made directly against moto before the run, not through the proxy);
#   e) the AWS guide's manual procedure with the aws CLI (bench/guide_procedure.sh),
#      against a fresh moto.
# Plus `kubectl-amp_iam --help` time, the setup's peak RSS and the stripped binary size.
# bench/report.py turns the logs into BENCHMARKS.md.
#
# Environment (all optional):
#   AMP_IAM_BIN     the release binary (default target/release/kubectl-amp_iam, built if missing)
#   KUBE_STANDIN    the Kubernetes API stand-in (default target/debug/examples/kube_standin, built if missing)
#   BENCH_DELAY_MS  delay added to each AWS call (default 50)
#   BENCH_VENV      Python venv with moto[server] and awscli (default .venv, created/completed if needed)
#   BENCH_OUT       where the logs go (default target/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

command_line="bench/run.sh"
for v in BENCH_OUT BENCH_VENV BENCH_DELAY_MS KUBE_STANDIN AMP_IAM_BIN; do
  if [ -n "${!v:-}" ]; then command_line="$v=${!v} $command_line"; fi
done
delay_ms=${BENCH_DELAY_MS:-50}
venv=${BENCH_VENV:-$root/.venv}
out=${BENCH_OUT:-$root/target/bench}
bin=${AMP_IAM_BIN:-$root/target/release/kubectl-amp_iam}
standin=${KUBE_STANDIN:-$root/target/debug/examples/kube_standin}
MOTO_VERSION="5.1.22"

# --- what it needs ---------------------------------------------------------
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ]; then
  echo "==> $venv: moto[server]==$MOTO_VERSION and awscli"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" awscli
fi
if [ ! -x "$bin" ]; then
  echo "==> cargo build --release --locked   ($bin is missing)"
  cargo build --release --locked
  bin=$root/target/release/kubectl-amp_iam
fi
if [ ! -x "$standin" ]; then
  echo "==> cargo build --locked --example kube_standin"
  cargo build --quiet --locked --example kube_standin
  standin=$root/target/debug/examples/kube_standin
fi

rm -rf "$out"
mkdir -p "$out/home"
# A copy, so that a concurrent build of the same target dir cannot change it mid-run.
cp "$bin" "$out/kubectl-amp_iam"
tool=$out/kubectl-amp_iam
py=$venv/bin/python

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # FILE PATTERN: until the line shows up in FILE
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; return 1
}

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true HOME=$out/home
unset AWS_PROFILE AWS_ENDPOINT_URL KUBECONFIG

# moto with cluster `demo` (its eks-pod-identity-agent add-on installed), and the
# delaying proxy in front of it. Sets moto_pid, moto_url, proxy_pid, proxy_url. The proxy appends
# to $out/calls.jsonl.
start_aws() { # NAME
  local port
  port=$(free_port)
  MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_EKS_ADDONS=eks-pod-identity-agent \
    "$py" "$root/tests/support/moto_server.py" -H 127.0.0.1 -p "$port" \
    >"$out/moto-$1.log" 2>&1 &
  moto_pid=$!; pids+=("$moto_pid")
  moto_url=http://127.0.0.1:$port
  "$py" "$root/bench/latency_proxy.py" --upstream "http://127.0.0.1:$port" --port 0 \
    --delay-ms "$delay_ms" --log "$out/calls.jsonl" >"$out/proxy-$1.log" 2>&1 &
  proxy_pid=$!; pids+=("$proxy_pid")
  wait_for "$out/proxy-$1.log" listening
  proxy_url=$(sed -n 's/^listening on //p' "$out/proxy-$1.log")
  # The cluster is made directly against moto, not through the proxy.
  for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  "$py" - "http://127.0.0.1:$port" <<'PY'
import sys, boto3
eks = boto3.client("eks", endpoint_url=sys.argv[1], region_name="us-east-1")
eks.create_cluster(name="demo", roleArn="arn:aws:iam::123456789012:role/eks-cluster", resourcesVpcConfig={})
# Warm-up, read-only: moto builds each backend on its first call (IAM loads the AWS
# managed policies, most of a second), a cost real AWS does not have.
eks.describe_cluster(name="demo")
boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1").get_caller_identity()
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1")
iam.list_policies(Scope="Local")
iam.list_open_id_connect_providers()
PY
}
stop_aws() { kill "$moto_pid" "$proxy_pid" 2>/dev/null || true; wait "$moto_pid" "$proxy_pid" 2>/dev/null || true; }

# The Kubernetes API stand-in (an empty cluster) and a kubeconfig for it in DIR. Sets
# standin_pid.
start_cluster() { # NAME DIR
  local port
  port=$(free_port)
  "$standin" --port "$port" >"$out/standin-$1.log" 2>&1 &
  standin_pid=$!; pids+=("$standin_pid")
  wait_for "$out/standin-$1.log" listening
  # A kubeconfig as `aws eks update-kubeconfig --name demo` writes it, and an `aws` on
  # the tool's PATH that answers `aws eks get-token` like the real CLI.
  write_eks_kubeconfig "$2" "http://127.0.0.1:$port"
}
. "$root/scripts/lib/eks-kubeconfig.sh"

# --- the tool: fresh setup, then a re-run ----------------------------------
echo "==> moto + proxy (${delay_ms} ms per AWS call) + Kubernetes API stand-in"
start_aws tool
start_cluster tool "$out"

run_tool() { # NAME DIR [ARGS...]: one timed `setup -n prometheus ARGS` with DIR's
  # kubeconfig, its AWS calls in $out/NAME.jsonl
  local name=$1 dir=$2
  shift 2
  : >"$out/calls.jsonl"
  echo "==> $name: kubectl-amp_iam setup -n prometheus $*"
  env PATH="$dir/bin:$PATH" KUBECONFIG="$dir/kubeconfig" AWS_ENDPOINT_URL="$proxy_url" \
    "$py" "$root/bench/timed.py" --rss --out "$out/$name.json" --output-file "$out/$name.out" \
    -- "$tool" setup -n prometheus "$@" || { cat "$out/$name.out"; exit 1; }
  mv "$out/calls.jsonl" "$out/$name.jsonl"
}
run_tool fresh "$out"
run_tool noop "$out"
stop_aws

# --- the tool in Pod Identity mode: a fresh account and cluster -------------
echo "==> fresh moto + proxy + Kubernetes API stand-in, for Pod Identity"
start_aws pod-identity
start_cluster pod-identity "$out/pod-identity"
run_tool pod_identity "$out/pod-identity" --mode pod-identity
stop_aws
kill "$standin_pid" 2>/dev/null || true

# --- the tool in a busy account: 2,500 local policies already there ----------
echo "==> fresh moto + proxy + Kubernetes API stand-in, 2,500 local policies seeded"
start_aws many-policies
# Seeded directly against moto (not through the proxy), before the measured run.
"$py" "$root/bench/seed_policies.py" --endpoint "$moto_url" --count 2500
start_cluster many-policies "$out/many-policies"
run_tool many_policies "$out/many-policies"
stop_aws
kill "$standin_pid" 2>/dev/null || true

echo "==> kubectl-amp_iam --help, 20 runs"
"$py" "$root/bench/timed.py" --runs 20 --out "$out/help.json" -- "$tool" --help

# --- the guide's procedure, on a fresh moto --------------------------------
echo "==> the guide's procedure with the aws CLI (fresh moto)"
start_aws guide
: >"$out/calls.jsonl"
env PATH="$venv/bin:$PATH" "$py" "$root/bench/timed.py" --out "$out/guide.json" \
  --output-file "$out/guide.out" -- bash "$root/bench/guide_procedure.sh" demo prometheus "$proxy_url" \
  || { cat "$out/guide.out"; exit 1; }
mv "$out/calls.jsonl" "$out/guide.jsonl"
stop_aws

# --- the binary, the machine, the report ----------------------------------
if command -v strip >/dev/null; then strip -o "$out/stripped" "$tool"; else cp "$tool" "$out/stripped"; fi
"$py" "$root/bench/report.py" --out "$out" --command "$command_line" --delay-ms "$delay_ms" \
  --binary "$bin" --venv "$venv" --md "$root/BENCHMARKS.md"
echo "==> wrote BENCHMARKS.md (logs in $out)"
