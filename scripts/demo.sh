#!/usr/bin/env bash
# Installs kubectl-amp-iam and shows its main job on a local emulated setup,
# no AWS account needed: moto (an AWS emulator) with an EKS cluster "demo",
# a Kubernetes API stand-in, and a kubeconfig like `aws eks update-kubeconfig`
# writes, with a Prometheus Deployment already running in namespace
# `prometheus` (its pods predate any annotation). Then: setup with a new AMP
# workspace, status naming the stale Deployment, setup --restart, status in
# sync, a re-run that changes nothing, values, a migration to EKS Pod Identity
# (dry run), the ACK manifests export prints, fargate, a context for another
# account (refused before any write), teardown; then a fleet: three clusters
# of the account from one bootstrap file (a role per cluster by name
# template), status across them, a file with a misspelt key (refused with its
# line and column), and the fleet's teardown.
# The stand-in is not at the endpoint moto invents for the cluster, so every
# run also shows the API server check's warning.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "==> cargo install --path . --locked   (a release build: a few minutes the first time)"
cargo install --path . --locked
export PATH="$HOME/.cargo/bin:$PATH"

MOTO_VERSION="5.1.22"
if [ ! -x .venv/bin/moto_server ]; then
  echo "==> creating .venv with moto[server]==$MOTO_VERSION"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
echo "==> building the Kubernetes API stand-in (examples/kube_standin.rs)"
cargo build --quiet --locked --example kube_standin

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aws_port=$(free_port)
kube_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# moto through the tests' launcher: it adds the EKS Pod Identity association and
# add-on APIs moto lacks (and IAM's trust-size quota), as the tests use it.
MOTO_IAM_LOAD_MANAGED_POLICIES=true .venv/bin/python tests/support/moto_server.py -H 127.0.0.1 -p "$aws_port" >"$work/moto.log" 2>&1 &
pids+=($!)
"$root/target/debug/examples/kube_standin" --port "$kube_port" --seed-prometheus prometheus >"$work/standin.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$aws_port") 2>/dev/null && grep -q listening "$work/standin.log"; then break; fi
  sleep 0.1
done

# Point the AWS SDK at moto; these credentials are moto's dummies.
export AWS_ENDPOINT_URL="http://127.0.0.1:$aws_port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_PROFILE
.venv/bin/python - <<PY
import boto3
eks = boto3.client("eks", endpoint_url="$AWS_ENDPOINT_URL", region_name="us-east-1")
eks.create_cluster(name="demo", roleArn="arn:aws:iam::123456789012:role/eks-cluster", resourcesVpcConfig={})
PY

# A kubeconfig as `aws eks update-kubeconfig --name demo` writes it, and an
# `aws` on PATH that answers `aws eks get-token` like the real CLI.
. "$root/scripts/lib/eks-kubeconfig.sh"
write_eks_kubeconfig "$work" "http://127.0.0.1:$kube_port"
export KUBECONFIG="$work/kubeconfig" PATH="$work/bin:$PATH"

run() { echo; echo "\$ $*"; "$@" || echo "(exit $?)"; }
run kubectl plugin list
run kubectl amp-iam setup -n prometheus --create-workspace demo --dry-run
run kubectl amp-iam setup -n prometheus --create-workspace demo
run kubectl amp-iam status -n prometheus --workspace demo
run kubectl amp-iam setup -n prometheus --workspace demo --restart
run kubectl amp-iam status -n prometheus --workspace demo
run kubectl amp-iam setup -n prometheus --workspace demo
run kubectl amp-iam values -n prometheus
run kubectl amp-iam migrate query -n prometheus --workspace demo --to pod-identity --install-agent --dry-run
run kubectl amp-iam export -n prometheus --workspace demo ingest
run kubectl amp-iam setup fargate
# A context naming account 111122223333 while the credentials are for
# 123456789012: refused (exit 4), and with -o json one error document.
sed 's/123456789012/111122223333/g' "$work/kubeconfig" >"$work/kubeconfig-other-account"
KUBECONFIG="$work/kubeconfig-other-account" run kubectl amp-iam setup -n prometheus
KUBECONFIG="$work/kubeconfig-other-account" run kubectl amp-iam status -n prometheus -o json
run kubectl amp-iam teardown -n prometheus --workspace demo --include-workspace
run kubectl amp-iam status -n prometheus

# --- a fleet: demo, staging and prod in one run ------------------------------
.venv/bin/python - <<PY
import boto3
eks = boto3.client("eks", endpoint_url="$AWS_ENDPOINT_URL", region_name="us-east-1")
for name in ("staging", "prod"):
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks-cluster", resourcesVpcConfig={})
PY
# One context per cluster (as update-kubeconfig writes them), all served by the
# one stand-in, so each cluster gets a namespace of its own.
fleet_kubeconfig=$work/kubeconfig-fleet
{
  echo "apiVersion: v1"; echo "kind: Config"; echo "clusters:"
  for c in demo staging prod; do
    echo "- cluster: {server: 'http://127.0.0.1:$kube_port'}"
    echo "  name: arn:aws:eks:us-east-1:123456789012:cluster/$c"
  done
  echo "contexts:"
  for c in demo staging prod; do
    echo "- context: {cluster: 'arn:aws:eks:us-east-1:123456789012:cluster/$c', user: 'arn:aws:eks:us-east-1:123456789012:cluster/$c'}"
    echo "  name: arn:aws:eks:us-east-1:123456789012:cluster/$c"
  done
  echo "current-context: arn:aws:eks:us-east-1:123456789012:cluster/demo"
  echo "users:"
  for c in demo staging prod; do
    echo "- name: arn:aws:eks:us-east-1:123456789012:cluster/$c"
    echo "  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token, --cluster-name, $c]}}"
  done
} >"$fleet_kubeconfig"
cat >"$work/fleet.yaml" <<'YAML'
apiVersion: amp-iam/v1alpha1
kind: Fleet
defaults:
  region: us-east-1
  kinds: [ingest]
  roleName: "amp-{cluster}-{kind}"
clusters:
  - cluster: demo
    namespace: prometheus
  - cluster: staging
    namespace: prom-staging
  - cluster: prod
    namespace: prom-prod
YAML
echo; echo "\$ cat fleet.yaml"; cat "$work/fleet.yaml"
export KUBECONFIG="$fleet_kubeconfig"
run kubectl amp-iam setup -f "$work/fleet.yaml"
run kubectl amp-iam status -f "$work/fleet.yaml"
sed 's/namespace: prom-prod/namepsace: prom-prod/' "$work/fleet.yaml" >"$work/fleet-typo.yaml"
run kubectl amp-iam setup -f "$work/fleet-typo.yaml"
run kubectl amp-iam teardown -f "$work/fleet.yaml"
