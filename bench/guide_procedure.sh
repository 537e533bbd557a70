#!/usr/bin/env bash
# The AWS guide's manual procedure ("Set up IAM roles for service accounts" for Amazon
# Managed Service for Prometheus), done with the aws CLI: its createIRSA-AMPIngest.sh,
# then its createIRSA-AMPQuery.sh, in the guide's order. Each script ends with
# `eksctl utils associate-iam-oidc-provider --cluster $CLUSTER_NAME --approve`; here
# that step is done with the aws CLI calls eksctl makes for it: DescribeCluster for the
# issuer, GetOpenIDConnectProvider, and CreateOpenIDConnectProvider if it is missing
# (eksctl's own extra calls, CloudFormation look-ups and the TLS thumbprint fetch are left
# out). The ServiceAccounts are not part of the guide.
#
#   guide_procedure.sh CLUSTER NAMESPACE ENDPOINT_URL
#
# Needs `aws` on PATH (awscli), a region and credentials in the environment.
set -euo pipefail
CLUSTER_NAME=$1
SERVICE_ACCOUNT_NAMESPACE=$2
ENDPOINT=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }

getRoleArn() {
  local output
  if output=$(aws iam get-role --role-name "$1" --query 'Role.Arn' --output text 2>&1); then
    echo "$output"
  elif grep -q NoSuchEntity <<<"$output"; then
    echo ""
  else
    >&2 echo "$output"
    return 1
  fi
}

# eksctl utils associate-iam-oidc-provider --cluster $CLUSTER_NAME --approve
associate_oidc_provider() {
  local issuer host account
  issuer=$(aws eks describe-cluster --name "$CLUSTER_NAME" --query "cluster.identity.oidc.issuer" --output text)
  host=${issuer#https://}
  account=$1
  if ! aws iam get-open-id-connect-provider \
      --open-id-connect-provider-arn "arn:aws:iam::${account}:oidc-provider/${host}" >/dev/null 2>&1; then
    aws iam create-open-id-connect-provider --url "$issuer" --client-id-list sts.amazonaws.com \
      --thumbprint-list 9e99a48a9960b14926bb7f3b02e22da2b0ab7280 >/dev/null
  fi
}

# One of the guide's two scripts: KIND is INGEST or QUERY.
irsa_script() {
  local kind=$1 sa role policy actions
  case $kind in
    INGEST) sa=amp-iamproxy-ingest-service-account role=amp-iamproxy-ingest-role policy=AMPIngestPolicy
            actions='"aps:RemoteWrite", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"' ;;
    QUERY)  sa=amp-iamproxy-query-service-account role=amp-iamproxy-query-role policy=AMPQueryPolicy
            actions='"aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"' ;;
  esac
  local AWS_ACCOUNT_ID OIDC_PROVIDER ROLE_ARN POLICY_ARN
  AWS_ACCOUNT_ID=$(aws sts get-caller-identity --query "Account" --output text)
  OIDC_PROVIDER=$(aws eks describe-cluster --name "$CLUSTER_NAME" --query "cluster.identity.oidc.issuer" --output text | sed -e "s/^https:\/\///")
  cat >TrustPolicy.json <<EOF
{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow",
  "Principal": { "Federated": "arn:aws:iam::${AWS_ACCOUNT_ID}:oidc-provider/${OIDC_PROVIDER}" },
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": { "StringEquals": { "${OIDC_PROVIDER}:sub": "system:serviceaccount:${SERVICE_ACCOUNT_NAMESPACE}:${sa}" } } } ] }
EOF
  cat >PermissionPolicy.json <<EOF
{ "Version": "2012-10-17", "Statement": [ {"Effect": "Allow", "Action": [ ${actions} ], "Resource": "*" } ] }
EOF
  ROLE_ARN=$(getRoleArn "$role")
  if [ "$ROLE_ARN" = "" ]; then
    ROLE_ARN=$(aws iam create-role --role-name "$role" \
      --assume-role-policy-document file://TrustPolicy.json --query "Role.Arn" --output text)
    POLICY_ARN=$(aws iam create-policy --policy-name "$policy" \
      --policy-document file://PermissionPolicy.json --query 'Policy.Arn' --output text)
    aws iam attach-role-policy --role-name "$role" --policy-arn "$POLICY_ARN"
  else
    echo "$ROLE_ARN IAM role for $kind already exists"
  fi
  echo "$ROLE_ARN"
  associate_oidc_provider "$AWS_ACCOUNT_ID"
}

irsa_script INGEST
irsa_script QUERY
