"""moto's server, with IAM's quota on a role's trust policy emulated.

Run as `.venv/bin/python tests/support/moto_server.py -H 127.0.0.1 -p PORT`
(the end-to-end harness does): the arguments are moto_server's.

moto (5.1.x) reports `AssumeRolePolicySizeQuota = 2048` in GetAccountSummary
but accepts trust policies of any size. Real IAM refuses a CreateRole or an
UpdateAssumeRolePolicy whose trust policy, whitespace not counted, is longer
than the account's quota: HTTP 409, code `LimitExceeded`, message
`Cannot exceed quota for ACLSizePerRole: 2048`. This launcher makes moto do
the same, with the quota taken from `MOTO_TRUST_POLICY_QUOTA` (default 2048,
IAM's default; accounts can have it raised to 4096 or more).

Amazon Managed Service for Prometheus (AMP) is brought closer to the real API
where the tool depends on it:

- CreateWorkspace answers `status: CREATING` (moto says ACTIVE), and only the
  fields the real answer has (no alias, no prometheusEndpoint); the workspace
  is ACTIVE from then on, as if its creation were instant.
- ListWorkspaces' `alias` filter is a prefix (moto matches it exactly), with
  blanks trimmed, so the tool must keep only exact aliases itself.
- DeleteWorkspace of a missing workspace is ResourceNotFoundException (moto
  answers success).

Everything else is moto's own behaviour.
"""

import json
import os
import sys

from moto.amp import models as amp_models
from moto.amp import responses as amp_responses
from moto.amp.utils import PAGINATION_MODEL as AMP_PAGINATION_MODEL
from moto.iam import models as iam_models
from moto.iam.exceptions import LimitExceededException
from moto.server import main
from moto.utilities.paginator import paginate

DEFAULT_QUOTA = 2048


def configured_quota():
    raw = os.environ.get("MOTO_TRUST_POLICY_QUOTA", "").strip()
    if not raw:
        return DEFAULT_QUOTA
    try:
        quota = int(raw)
    except ValueError:
        sys.exit(f"MOTO_TRUST_POLICY_QUOTA must be a positive integer, not {raw!r}")
    if quota <= 0:
        sys.exit(f"MOTO_TRUST_POLICY_QUOTA must be a positive integer, not {raw!r}")
    return quota


QUOTA = configured_quota()


def counted_length(document):
    """The size IAM compares with the quota: characters, whitespace not counted."""
    return sum(1 for c in document or "" if not c.isspace())


def check_trust_quota(backend, document):
    quota = backend.account_summary._assume_role_policy_size_quota
    if counted_length(document) > quota:
        raise LimitExceededException(f"Cannot exceed quota for ACLSizePerRole: {quota}")


# GetAccountSummary reports the configured quota (also after a moto reset,
# which builds new backends and so new summaries).
_summary_init = iam_models.AccountSummary.__init__


def summary_init(self, iam_backend):
    _summary_init(self, iam_backend)
    self._assume_role_policy_size_quota = QUOTA


iam_models.AccountSummary.__init__ = summary_init

_create_role = iam_models.IAMBackend.create_role


def create_role(self, role_name, assume_role_policy_document, *args, **kwargs):
    check_trust_quota(self, assume_role_policy_document)
    return _create_role(self, role_name, assume_role_policy_document, *args, **kwargs)


iam_models.IAMBackend.create_role = create_role

_update_assume_role_policy = iam_models.IAMBackend.update_assume_role_policy


def update_assume_role_policy(self, role_name, policy_document):
    self.get_role(role_name)  # a missing role is NoSuchEntity, as in IAM
    check_trust_quota(self, policy_document)
    return _update_assume_role_policy(self, role_name, policy_document)


iam_models.IAMBackend.update_assume_role_policy = update_assume_role_policy

# --- AMP -------------------------------------------------------------------

# The real CreateWorkspace answer: workspaceId, arn, status, tags (and kmsKeyArn).
CREATE_WORKSPACE_FIELDS = ("workspaceId", "arn", "status", "tags", "kmsKeyArn")

_create_workspace_response = amp_responses.PrometheusServiceResponse.create_workspace


def create_workspace_response(self):
    answer = json.loads(_create_workspace_response(self))
    answer = {k: v for k, v in answer.items() if k in CREATE_WORKSPACE_FIELDS}
    answer["status"] = {"statusCode": "CREATING"}
    return json.dumps(answer)


amp_responses.PrometheusServiceResponse.create_workspace = create_workspace_response


@paginate(pagination_model=AMP_PAGINATION_MODEL)
def list_workspaces(self, alias):
    prefix = (alias or "").strip()
    return [w for w in self.workspaces.values() if (w.alias or "").startswith(prefix)]


amp_models.PrometheusServiceBackend.list_workspaces = list_workspaces

_delete_workspace = amp_models.PrometheusServiceBackend.delete_workspace


def delete_workspace(self, workspace_id):
    self.describe_workspace(workspace_id)  # a missing one is ResourceNotFoundException
    return _delete_workspace(self, workspace_id)


amp_models.PrometheusServiceBackend.delete_workspace = delete_workspace

if __name__ == "__main__":
    sys.exit(main())
