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

EKS Pod Identity associations and add-ons, which moto does not have, are
emulated on moto's EKS routes with the API reference's shapes and errors
(state lives on moto's cluster objects, so per account, region and cluster):

- CreatePodIdentityAssociation, ListPodIdentityAssociations (namespace and
  serviceAccount filters, maxResults, nextToken), Describe-, Update- and
  DeletePodIdentityAssociation. One association per ServiceAccount: a second
  is 409 ResourceInUseException; a repeated clientRequestToken answers the
  association it created (the SDK retries with the same token).
- DescribeAddon and CreateAddon: CreateAddon answers `status: CREATING`, and
  the add-on is ACTIVE from then on. `MOTO_EKS_ADDONS` (comma-separated names,
  e.g. `eks-pod-identity-agent`) pre-installs add-ons, ACTIVE, on every cluster.
- ListFargateProfiles and ListNodegroups of a missing cluster are
  ResourceNotFoundException (moto fails with a 500).

Errors are moto's EKS exceptions: the code in the `x-amzn-ErrorType` header,
a JSON body with `message`, as EKS sends them.

Everything else is moto's own behaviour.
"""

import base64
import json
import os
import uuid
import re
import sys
import time
from urllib.parse import parse_qs, unquote

from moto.amp import models as amp_models
from moto.amp import responses as amp_responses
from moto.amp.utils import PAGINATION_MODEL as AMP_PAGINATION_MODEL
from moto.eks import models as eks_models
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidParameterException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.responses import EKSResponse
from moto.iam import models as iam_models
from moto.iam.exceptions import LimitExceededException
from moto.moto_api._internal import mock_random
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

# --- EKS: Pod Identity associations and add-ons ---------------------------

# Any version string will do: the tool installs the add-on's default.
DEFAULT_ADDON_VERSION = "v1.3.4-eksbuild.1"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")
LIST_MAX_RESULTS = 100


def preinstalled_addons():
    raw = os.environ.get("MOTO_EKS_ADDONS", "")
    return [name.strip() for name in raw.split(",") if name.strip()]


PREINSTALLED_ADDONS = preinstalled_addons()

_cluster_init = eks_models.Cluster.__init__


def cluster_init(self, *args, **kwargs):
    _cluster_init(self, *args, **kwargs)
    # moto draws one issuer id when it loads, so every cluster would share an
    # OIDC provider; EKS gives each cluster its own (32 hex digits).
    region = self.arn.split(":")[3]
    self.identity = {
        "oidc": {
            "issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{uuid.uuid4().hex.upper()}"
        }
    }
    # Underscored: moto's serializer reads attributes named like the API's fields.
    self._associations = {}  # id -> association, in creation order
    self._association_tokens = {}  # clientRequestToken -> id
    self._addons = {}  # name -> add-on
    for name in PREINSTALLED_ADDONS:
        self._addons[name] = new_addon(self, name, DEFAULT_ADDON_VERSION, {})


eks_models.Cluster.__init__ = cluster_init


def arn_of(cluster, kind, rest):
    """`arn:<p>:eks:<region>:<account>:<kind>/<rest>`, from the cluster's ARN."""
    prefix = cluster.arn.split(":cluster/", 1)[0]
    return f"{prefix}:{kind}/{rest}"


def new_addon(cluster, name, version, tags):
    now = time.time()
    return {
        "addonName": name,
        "clusterName": cluster.name,
        "status": "ACTIVE",
        "addonVersion": version,
        "health": {"issues": []},
        "addonArn": arn_of(cluster, "addon", f"{cluster.name}/{name}/{mock_random.uuid4()}"),
        "createdAt": now,
        "modifiedAt": now,
        "tags": dict(tags or {}),
    }


def not_found(message, **names):
    fields = dict.fromkeys(("clusterName", "nodegroupName", "fargateProfileName", "addonName"))
    fields.update(names)
    return ResourceNotFoundException(message=message, **fields)


def invalid(message):
    return InvalidParameterException(message=message)


def summary(association):
    keys = ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")
    keys += ("ownerArn",)  # only when an add-on made it
    return {k: association[k] for k in keys if k in association}


def answer(body):
    return json.dumps(body), {"status": 200, "Content-Type": "application/json"}


class EksRoutes:
    """Handlers added to moto's EKSResponse; moto names the action from the route."""

    def _path(self, group):
        return unquote(self.uri_match.group(group))

    def _cluster(self):
        # A missing cluster is moto's ResourceNotFoundException, as in EKS.
        return self.eks_backend.describe_cluster(name=self._path("name"))

    def _body(self):
        try:
            body = json.loads(self.body or "{}")
        except ValueError:
            raise invalid("The request body is not valid JSON")
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object")
        return body

    def _query(self, name):
        values = parse_qs(self.parsed_url.query, keep_blank_values=True).get(name)
        return values[0] if values else None

    def _association(self, cluster):
        association_id = self._path("associationId")
        association = cluster._associations.get(association_id)
        if association is None:
            raise not_found(
                f"No Pod Identity Association found for id: {association_id}",
                clusterName=cluster.name,
            )
        return association

    def create_pod_identity_association(self):
        cluster = self._cluster()
        body = self._body()
        namespace = body.get("namespace")
        service_account = body.get("serviceAccount")
        role_arn = body.get("roleArn")
        required = {"namespace": namespace, "serviceAccount": service_account, "roleArn": role_arn}
        for field, value in required.items():
            if not isinstance(value, str) or not value:
                raise invalid(f"{field} is required")
        if not ROLE_ARN.match(role_arn):
            raise invalid(f"Invalid Role Arn: '{role_arn}'")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise invalid("tags must be a map")
        token = body.get("clientRequestToken")
        if token and token in cluster._association_tokens:
            known = cluster._associations.get(cluster._association_tokens[token])
            if known is not None:
                return answer({"association": known})
        if any(
            a["namespace"] == namespace and a["serviceAccount"] == service_account
            for a in cluster._associations.values()
        ):
            raise ResourceInUseException(
                clusterName=cluster.name,
                nodegroupName=None,
                addonName=None,
                message="Association already exists: "
                f"{namespace}/{service_account} in cluster {cluster.name}",
            )
        association_id = "a-" + mock_random.get_random_string(length=17, lower_case=True)
        arn = arn_of(cluster, "podidentityassociation", f"{cluster.name}/{association_id}")
        now = time.time()
        association = {
            "clusterName": cluster.name,
            "namespace": namespace,
            "serviceAccount": service_account,
            "roleArn": role_arn,
            "associationArn": arn,
            "associationId": association_id,
            "tags": dict(tags),
            "createdAt": now,
            "modifiedAt": now,
            "disableSessionTags": bool(body.get("disableSessionTags", False)),
        }
        if body.get("targetRoleArn"):
            association["targetRoleArn"] = body["targetRoleArn"]
        cluster._associations[association_id] = association
        if token:
            cluster._association_tokens[token] = association_id
        return answer({"association": association})

    def list_pod_identity_associations(self):
        cluster = self._cluster()
        namespace = self._query("namespace")
        service_account = self._query("serviceAccount")
        raw_max = self._query("maxResults")
        try:
            max_results = LIST_MAX_RESULTS if raw_max is None else int(raw_max)
        except ValueError:
            raise invalid(f"maxResults must be a number, not {raw_max!r}")
        if not 1 <= max_results <= LIST_MAX_RESULTS:
            raise invalid(f"maxResults must be between 1 and {LIST_MAX_RESULTS}")
        matching = [
            a
            for a in cluster._associations.values()
            if (namespace is None or a["namespace"] == namespace)
            and (service_account is None or a["serviceAccount"] == service_account)
        ]
        # An opaque token: the id of the first association of the next page.
        start = 0
        token = self._query("nextToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
                start = [a["associationId"] for a in matching].index(after)
            except (ValueError, UnicodeDecodeError):
                raise invalid("The nextToken is not valid")
        page = matching[start : start + max_results]
        result = {"associations": [summary(a) for a in page]}
        if start + max_results < len(matching):
            following = matching[start + max_results]["associationId"]
            result["nextToken"] = base64.urlsafe_b64encode(following.encode()).decode()
        return answer(result)

    def describe_pod_identity_association(self):
        return answer({"association": self._association(self._cluster())})

    def update_pod_identity_association(self):
        cluster = self._cluster()
        association = self._association(cluster)
        body = self._body()
        role_arn = body.get("roleArn")
        if role_arn is not None:
            if not isinstance(role_arn, str) or not ROLE_ARN.match(role_arn):
                raise invalid(f"Invalid Role Arn: '{role_arn}'")
            association["roleArn"] = role_arn
        if "disableSessionTags" in body:
            association["disableSessionTags"] = bool(body["disableSessionTags"])
        if "targetRoleArn" in body:
            if body["targetRoleArn"]:
                association["targetRoleArn"] = body["targetRoleArn"]
            else:
                association.pop("targetRoleArn", None)
        association["modifiedAt"] = time.time()
        return answer({"association": association})

    def delete_pod_identity_association(self):
        cluster = self._cluster()
        association = self._association(cluster)
        del cluster._associations[association["associationId"]]
        return answer({"association": association})

    def describe_addon(self):
        cluster = self._cluster()
        name = self._path("addonName")
        addon = cluster._addons.get(name)
        if addon is None:
            raise not_found(
                f"No addon: {name} found in cluster: {cluster.name}",
                clusterName=cluster.name,
                addonName=name,
            )
        return answer({"addon": addon})

    def create_addon(self):
        cluster = self._cluster()
        body = self._body()
        name = body.get("addonName")
        if not isinstance(name, str) or not name:
            raise invalid("addonName is required")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise invalid("tags must be a map")
        if name in cluster._addons:
            raise ResourceInUseException(
                clusterName=cluster.name,
                nodegroupName=None,
                addonName=name,
                message="Addon already exists.",
            )
        addon = new_addon(cluster, name, body.get("addonVersion") or DEFAULT_ADDON_VERSION, tags)
        # Installed at once: ACTIVE when described, CREATING in this answer.
        cluster._addons[name] = addon
        return answer({"addon": dict(addon, status="CREATING")})


for _name, _handler in vars(EksRoutes).items():
    if not _name.startswith("__"):
        setattr(EKSResponse, _name, _handler)

for _path in (
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$",
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$",
    "{0}/clusters/(?P<name>[^/]+)/addons$",
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$",
):
    eks_urls.url_paths[_path] = EKSResponse.dispatch


def require_cluster(list_method):
    def listing(self, cluster_name, *args, **kwargs):
        self.describe_cluster(name=cluster_name)  # a missing one is ResourceNotFoundException
        return list_method(self, cluster_name, *args, **kwargs)

    return listing


for _listing in ("list_fargate_profiles", "list_nodegroups"):
    setattr(
        eks_models.EKSBackend,
        _listing,
        require_cluster(getattr(eks_models.EKSBackend, _listing)),
    )

if __name__ == "__main__":
    sys.exit(main())
