# Sourced by scripts/demo.sh and bench/run.sh.
# write_eks_kubeconfig DIR SERVER_URL: writes DIR/kubeconfig as
# `aws eks update-kubeconfig --name demo --region us-east-1` writes it (the
# context named by the cluster ARN, an exec credential helper), and DIR/bin/aws,
# which answers `aws eks get-token` like the real CLI (put DIR/bin on PATH).
write_eks_kubeconfig() {
  local dir=$1 server=$2
  local arn="arn:aws:eks:us-east-1:123456789012:cluster/demo"
  mkdir -p "$dir/bin"
  cat >"$dir/bin/aws" <<'SH'
#!/bin/sh
echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{},"status":{"expirationTimestamp":"2099-01-01T00:00:00Z","token":"k8s-aws-v1.local"}}'
SH
  chmod +x "$dir/bin/aws"
  cat >"$dir/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: $server
  name: $arn
contexts:
- context:
    cluster: $arn
    user: $arn
  name: $arn
current-context: $arn
users:
- name: $arn
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, us-east-1, eks, get-token, --cluster-name, demo, --output, json]
YAML
}
