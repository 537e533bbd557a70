//! The pods that must pick up the identity: the EKS pod identity webhook
//! injects the role only when a pod starts, so pods that started before the
//! annotation (or before it changed) run without it, on the node's role.
//! Each such pod is named by the workload a person restarts, and `--restart`
//! restarts exactly those workloads, after the annotation is in place.

use super::{Action, Op, Plan, Resource};
use crate::cluster::{Owner, Pod, RESTARTABLE_KINDS};
use crate::observe::Observed;
use crate::recipe::{Desired, IdentityMode, IrsaSpec};
use serde::Serialize;
use std::collections::BTreeMap;

/// A workload with pods that run a recipe ServiceAccount without its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleWorkload {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, `ReplicaSet` or `Pod`.
    pub kind: String,
    pub name: String,
    pub service_account: String,
    /// How many of its pods run without the role.
    pub pods: usize,
    pub reason: String,
    /// `restart` (planned), `delete` (a bare pod, `--force`) or `none`.
    pub action: &'static str,
}

impl StaleWorkload {
    /// `deployment/prometheus-server`, as kubectl names it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }

    /// One line for people.
    pub fn line(&self) -> String {
        format!("{}: {}", self.id(), self.reason)
    }

    /// `setup --restart` can restart it (as `kubectl rollout restart` does).
    pub fn restartable(&self) -> bool {
        RESTARTABLE_KINDS.contains(&self.kind.as_str())
    }
}

/// Why a pod runs without the role, from what the run can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    /// The annotation is written by this plan, or was written after the pod started.
    StartedBefore,
    /// The pod has another role: the annotation changed since it started.
    OtherRole,
    /// Started after the annotation, yet nothing was injected.
    NotInjected,
    /// Pod Identity mode, but the pod still has IRSA's AWS_ROLE_ARN.
    IrsaWins,
}

/// How the ServiceAccount will give its pods the role when the plan is done.
pub(super) struct Annotation<'a> {
    pub role_arn: &'a str,
    /// This plan writes (or would write) the annotation or the association.
    pub changing: bool,
    /// When the current annotation was written (RFC 3339), if known.
    pub since: Option<&'a str>,
    pub mode: IdentityMode,
}

/// Judges the pods of `spec`'s ServiceAccount; with `--restart`, plans the
/// restarts after `after` (the annotation, the trust, the attachment).
pub(super) fn plan_workloads(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    annotation: &Annotation<'_>,
    after: &[Option<usize>],
) {
    let mut stale: BTreeMap<Owner, Vec<(Why, &Pod)>> = BTreeMap::new();
    for pod in observed
        .pods
        .iter()
        .filter(|p| p.service_account == spec.service_account)
        .filter(|p| !matches!(p.phase.as_deref(), Some("Succeeded" | "Failed")))
    {
        let has_role = match annotation.mode {
            IdentityMode::Irsa => {
                pod.role_arn_env.as_deref() == Some(annotation.role_arn) && pod.token_volume
            }
            // IRSA's AWS_ROLE_ARN comes first in the SDKs' chain.
            IdentityMode::PodIdentity => pod.container_credentials && pod.role_arn_env.is_none(),
        };
        if has_role {
            continue;
        }
        let why = match (&pod.role_arn_env, annotation.since, &pod.created) {
            (Some(_), _, _) if annotation.mode == IdentityMode::PodIdentity => Why::IrsaWins,
            _ if annotation.mode == IdentityMode::PodIdentity => Why::StartedBefore,
            _ if annotation.changing => Why::StartedBefore,
            (Some(_), _, _) => Why::OtherRole,
            (None, Some(since), Some(created)) if created.as_str() > since => Why::NotInjected,
            _ => Why::StartedBefore,
        };
        stale
            .entry(workload_of(observed, pod))
            .or_default()
            .push((why, pod));
    }

    let mut webhook_suspect = false;
    for (owner, pods) in stale {
        let why = pods
            .iter()
            .map(|(w, _)| *w)
            .max()
            .unwrap_or(Why::StartedBefore);
        let n = pods.len();
        let reason = match why {
            Why::StartedBefore if annotation.mode == IdentityMode::PodIdentity => {
                format!(
                    "{n} pod(s) started without Pod Identity credentials (before the association)"
                )
            }
            Why::StartedBefore => format!("{n} pod(s) started before the annotation"),
            Why::IrsaWins => format!(
                "{n} pod(s) still run with IRSA's AWS_ROLE_ARN, which the AWS SDKs use before Pod Identity"
            ),
            Why::OtherRole => {
                let other = pods
                    .iter()
                    .find_map(|(_, p)| p.role_arn_env.clone())
                    .unwrap_or_default();
                format!(
                    "{n} pod(s) run with role {other}, not {}",
                    annotation.role_arn
                )
            }
            Why::NotInjected => {
                webhook_suspect = true;
                format!(
                    "{n} pod(s) started after the annotation but have no AWS_ROLE_ARN (no pod identity webhook?)"
                )
            }
        };
        let restartable = RESTARTABLE_KINDS.contains(&owner.kind.as_str());
        // A restart does not help pods the webhook never mutates.
        let (action, op) = match () {
            _ if !desired.options.restart || why == Why::NotInjected => ("none", None),
            _ if restartable => (
                "restart",
                Some(Op::RestartWorkload {
                    namespace: desired.namespace.clone(),
                    owner: owner.clone(),
                }),
            ),
            _ if owner.kind == "Pod" && desired.options.restart_bare_pods => (
                "delete",
                Some(Op::DeletePod {
                    namespace: desired.namespace.clone(),
                    name: owner.name.clone(),
                }),
            ),
            _ => ("none", None),
        };
        let workload = StaleWorkload {
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            service_account: spec.service_account.clone(),
            pods: n,
            reason: reason.clone(),
            action,
        };
        if let Some(op) = op {
            let detail = match action {
                "delete" => format!("delete the bare pod (--force): {reason}"),
                _ => format!("rollout restart: {reason}"),
            };
            let verb = if action == "delete" {
                Action::Delete
            } else {
                Action::Update
            };
            plan.push(
                Resource::Workload,
                workload.id(),
                Some(spec.kind),
                verb,
                detail,
                Some(op),
                after,
            );
        } else if desired.options.restart && why != Why::NotInjected {
            let how = match owner.kind.as_str() {
                "Pod" => "a bare pod: pass --force to delete it (nothing recreates it)".to_string(),
                kind => format!(
                    "a {kind} is not restarted by `rollout restart`: delete its pods to recreate them"
                ),
            };
            plan.warnings
                .push(format!("{} is not restarted: {how}", workload.id()));
        }
        plan.workloads.push(workload);
    }

    if webhook_suspect {
        plan.warnings.push(format!(
            "pods of {}/{} started after the annotation without the role: the EKS pod identity webhook may be missing (EKS runs it; on self-managed clusters check `kubectl get mutatingwebhookconfiguration pod-identity-webhook`)",
            desired.namespace, spec.service_account
        ));
    }
}

/// The workload a person restarts for `pod`: a ReplicaSet's Deployment, a
/// Job's CronJob, the pod's own controller, or the pod itself.
fn workload_of(observed: &Observed, pod: &Pod) -> Owner {
    match &pod.owner {
        None => Owner {
            kind: "Pod".into(),
            name: pod.name.clone(),
        },
        Some(owner) => match observed.pod_owners.get(owner) {
            Some(Some(parent)) => parent.clone(),
            _ => owner.clone(),
        },
    }
}
