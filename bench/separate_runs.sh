#!/usr/bin/env bash
# N separate single-cluster runs, one after another, as a shell loop over the contexts
# would do them (bench/run.sh's fleet comparison, issue 13):
#
#   separate_runs.sh TOOL ROLE_NAME_TEMPLATE CONTEXT...
#
# runs `TOOL setup --context CONTEXT --role-name ROLE_NAME_TEMPLATE` for each CONTEXT
# (KUBECONFIG, PATH and AWS_ENDPOINT_URL as the caller set them). Each run's output
# follows a `== CONTEXT ==` line and ends with `== exit CODE ==`. Stops at the first
# run that exits non-zero, with its exit code, like `set -e` would.
set -u
tool=$1 template=$2
shift 2
for context in "$@"; do
  echo "== $context =="
  rc=0
  "$tool" setup --context "$context" --role-name "$template" || rc=$?
  echo "== exit $rc =="
  [ "$rc" -eq 0 ] || exit "$rc"
done
