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
#      against a fresh moto;
#   f) fleet runs (issue 13): for N = 1, 5 and 20 EKS clusters c01.. in one account, one
#      `setup --all-contexts --role-name 'amp-{cluster}-{kind}'` against N single-cluster
#      `setup --context CTX --role-name 'amp-{cluster}-{kind}'` one after another
#      (bench/separate_runs.sh), and, for N above the default --parallel (16), the same
#      fleet run with `--parallel N`; each variant on a fresh moto, proxy and stand-in.
# Plus `kubectl-amp_iam --help` time, the setup's peak RSS and the stripped binary size.
# bench/report.py turns the logs into BENCHMARKS.md.
#
# Environment (all optional):
#   AMP_IAM_BIN     the release binary (default target/release/kubectl-amp_iam, built if missing)
#   KUBE_STANDIN    the Kubernetes API stand-in (default target/debug/examples/kube_standin, built if missing)
#   BENCH_DELAY_MS  delay added to each AWS call (default 50)
#   BENCH_VENV      Python venv with moto[server] and awscli (default .venv, created/completed if needed)
#   BENCH_OUT       where the logs go (default target/bench)
#   BENCH_FLEET_SIZES  the fleet sizes N of f) (default "1 5 20")
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

command_line="bench/run.sh"
for v in BENCH_OUT BENCH_VENV BENCH_DELAY_MS BENCH_FLEET_SIZES KUBE_STANDIN AMP_IAM_BIN; do
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
# --parallel's default, as the binary's own help states it ("[default: 16]").
setup_help=$("$tool" setup --help)
default_parallel=$(awk '
  /^ *--parallel/ { on = 1 }
  on && match($0, /\[default: [0-9]+\]/) { print substr($0, RSTART + 10, RLENGTH - 11); exit }
  on && /^ *-/ && !/^ *--parallel/ { exit }' <<<"$setup_help")
if ! [[ "$default_parallel" =~ ^[0-9]+$ ]]; then
  echo "could not read --parallel's default from '$tool setup --help'" >&2
  exit 1
fi

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

# moto with cluster `demo` (or the CLUSTERs given; their eks-pod-identity-agent add-on
# installed), and the delaying proxy in front of it. Sets moto_pid, moto_url, proxy_pid,
# proxy_url. The proxy appends to $out/calls.jsonl.
start_aws() { # NAME [CLUSTER...]
  local port
  local clusters=("${@:2}")
  [ ${#clusters[@]} -gt 0 ] || clusters=(demo)
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
  "$py" - "http://127.0.0.1:$port" "${clusters[@]}" <<'PY'
import sys, boto3
eks = boto3.client("eks", endpoint_url=sys.argv[1], region_name="us-east-1")
for name in sys.argv[2:]:
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks-cluster", resourcesVpcConfig={})
# Warm-up, read-only: moto builds each backend on its first call (IAM loads the AWS
# managed policies, most of a second), a cost real AWS does not have.
for name in sys.argv[2:]:
    eks.describe_cluster(name=name)
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

# --- fleet runs (issue 13): one fleet run against N single-cluster runs ----
# For each N, two or three variants, each on a fresh moto (a fresh account with clusters
# c01..cN, made directly against moto), proxy and Kubernetes API stand-in:
#   fleet     `setup --all-contexts --role-name 'amp-{cluster}-{kind}'` (--parallel: default)
#   parallel  only when N is above --parallel's default: the same with `--parallel N`, so
#             that no cluster waits for a slot
#   separate  `setup --context CTX --role-name 'amp-{cluster}-{kind}'` for each context,
#             one after another (bench/separate_runs.sh, a shell loop over contexts)
# No -n: each context names its own namespace (prom-cNN), so that the N clusters'
# ServiceAccounts do not collide in the one stand-in all N contexts point at.
# Logs: $out/fleet-N-VARIANT.{jsonl,json,out}. A failing variant is recorded (its exit
# code goes to the report) and the bench goes on.
fleet_sizes=${BENCH_FLEET_SIZES:-1 5 20}
fleet_template='amp-{cluster}-{kind}'
eks_arn() { echo "arn:aws:eks:us-east-1:123456789012:cluster/$1"; }
echo "==> fleet runs: N = $fleet_sizes (--parallel's default: $default_parallel)"

# DIR/kubeconfig with one context per CLUSTER, each as `aws eks update-kubeconfig --name
# CLUSTER` writes it (named by the cluster's ARN, an `aws eks get-token` exec user), all
# at SERVER_URL, each with namespace prom-CLUSTER; DIR/bin/aws answers `aws eks get-token`.
write_fleet_kubeconfig() { # DIR SERVER_URL CLUSTER...
  local dir=$1 server=$2 c arn
  shift 2
  write_eks_kubeconfig "$dir" "$server" # for DIR/bin/aws; its kubeconfig is replaced here
  {
    printf 'apiVersion: v1\nkind: Config\nclusters:\n'
    for c; do arn=$(eks_arn "$c"); printf -- '- cluster:\n    server: %s\n  name: %s\n' "$server" "$arn"; done
    printf 'contexts:\n'
    for c; do
      arn=$(eks_arn "$c")
      printf -- '- context:\n    cluster: %s\n    user: %s\n    namespace: prom-%s\n  name: %s\n' \
        "$arn" "$arn" "$c" "$arn"
    done
    printf 'current-context: %s\nusers:\n' "$(eks_arn "$1")"
    for c; do
      printf -- '- name: %s\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [--region, us-east-1, eks, get-token, --cluster-name, %s, --output, json]\n' \
        "$(eks_arn "$c")" "$c"
    done
  } >"$dir/kubeconfig"
}

for n in $fleet_sizes; do
  clusters=()
  for i in $(seq 1 "$n"); do clusters+=("$(printf 'c%02d' "$i")"); done
  contexts=()
  for c in "${clusters[@]}"; do contexts+=("$(eks_arn "$c")"); done
  variants=(fleet)
  [ "$n" -le "$default_parallel" ] || variants+=(parallel)
  variants+=(separate)
  for variant in "${variants[@]}"; do
    name=fleet-$n-$variant
    dir=$out/$name
    echo "==> $name: fresh moto + proxy with $n clusters (${clusters[0]}..${clusters[-1]}) + Kubernetes API stand-in"
    start_aws "$name" "${clusters[@]}"
    port=$(free_port)
    "$standin" --port "$port" >"$out/standin-$name.log" 2>&1 &
    standin_pid=$!; pids+=("$standin_pid")
    wait_for "$out/standin-$name.log" listening
    write_fleet_kubeconfig "$dir" "http://127.0.0.1:$port" "${clusters[@]}"
    case $variant in
      fleet)
        cmd=("$tool" setup --all-contexts --role-name "$fleet_template")
        echo "    kubectl-amp_iam setup --all-contexts --role-name '$fleet_template'" ;;
      parallel)
        cmd=("$tool" setup --all-contexts --role-name "$fleet_template" --parallel "$n")
        echo "    kubectl-amp_iam setup --all-contexts --role-name '$fleet_template' --parallel $n" ;;
      separate)
        cmd=(bash "$root/bench/separate_runs.sh" "$tool" "$fleet_template" "${contexts[@]}")
        echo "    $n × kubectl-amp_iam setup --context CTX --role-name '$fleet_template', one after another" ;;
    esac
    : >"$out/calls.jsonl"
    rc=0
    env PATH="$dir/bin:$PATH" KUBECONFIG="$dir/kubeconfig" AWS_ENDPOINT_URL="$proxy_url" \
      "$py" "$root/bench/timed.py" --rss --out "$out/$name.json" --output-file "$out/$name.out" \
      -- "${cmd[@]}" || rc=$?
    mv "$out/calls.jsonl" "$out/$name.jsonl"
    if [ "$rc" -ne 0 ]; then
      echo "    !! $name exited non-zero (see $out/$name.out); last lines:" >&2
      tail -n 15 "$out/$name.out" >&2
    else
      tail -n 1 "$out/$name.out" | sed 's/^/    /'
    fi
    stop_aws
    kill "$standin_pid" 2>/dev/null || true
  done
done

# --- the binary, the machine, the report ----------------------------------
if command -v strip >/dev/null; then strip -o "$out/stripped" "$tool"; else cp "$tool" "$out/stripped"; fi
"$py" "$root/bench/report.py" --out "$out" --command "$command_line" --delay-ms "$delay_ms" \
  --binary "$bin" --venv "$venv" --md "$root/BENCHMARKS.md" --fleet-sizes "$fleet_sizes" \
  --fleet-parallel "$default_parallel"
echo "==> wrote BENCHMARKS.md (logs in $out)"
