//! Executing a plan: every change starts as soon as the changes it depends on
//! are done, so independent AWS calls run concurrently and the critical path
//! is as short as the dependencies allow. A failed change skips everything
//! that depends on it; the others finish.

use crate::aws::Workspace;
use crate::aws::{Aws, AwsError, AwsErrorKind};
use crate::cluster::{Cluster, KubeError, KubeErrorKind, Removal};
use crate::error::{Error, Result};
use crate::plan::{CREATED_WORKSPACE, Op, Plan, Status, TrustGrant, WorkspaceSummary};
use crate::policy;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How long to keep retrying IAM's eventual-consistency rejections (a
    /// just-created OIDC provider or role that IAM does not see yet).
    pub consistency_window: Duration,
    /// A fleet run: the writes several clusters' plans share, made once.
    pub shared: Option<SharedWrites>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            consistency_window: Duration::from_secs(30),
            shared: None,
        }
    }
}

/// What a shared write answered: done (with the workspace a CreateWorkspace
/// made), or its error's message.
type SharedResult = std::result::Result<Option<Workspace>, String>;

/// The writes a fleet run makes once for several clusters (the same policy,
/// workspace or provider written the same way by each): the first cluster
/// to reach one makes it, the others wait for its answer and report that.
#[derive(Debug, Clone, Default)]
pub struct SharedWrites {
    /// Each shared write, by [`SharedWrites::key`], with its answer once made.
    cells: Rc<RefCell<HashMap<String, Rc<OnceCell<SharedResult>>>>>,
}

impl SharedWrites {
    /// The identity of a write in `scope` (account, and region for AMP):
    /// the op itself, without the cluster tag that names whichever cluster
    /// happened to make it.
    pub fn key(scope: &str, op: &Op) -> String {
        let mut op = op.clone();
        let tags = match &mut op {
            Op::CreateOidcProvider { tags, .. }
            | Op::CreatePolicy { tags, .. }
            | Op::CreateWorkspace { tags, .. } => Some(tags),
            Op::CreateRole { role, .. } => Some(&mut role.tags),
            _ => None,
        };
        if let Some(tags) = tags {
            tags.remove(crate::recipe::CLUSTER_TAG);
        }
        format!("{scope} {op:?}")
    }

    /// Makes `key` a write to share (before any apply starts).
    pub fn share(&self, key: String) {
        self.cells.borrow_mut().entry(key).or_default();
    }

    fn cell(&self, key: &str) -> Option<Rc<OnceCell<SharedResult>>> {
        self.cells.borrow().get(key).cloned()
    }
}

/// Applies `plan`, recording each change's status and error in it. Errors
/// with [`Error::ApplyFailed`] when any change failed.
pub async fn apply<A: Aws, C: Cluster>(
    plan: &mut Plan,
    aws: &A,
    cluster: Option<&C>,
    options: &ApplyOptions,
) -> Result<()> {
    let n = plan.changes.len();
    // started: handed to the executor (or nothing to do); finished: done ok.
    let mut started: Vec<bool> = plan.changes.iter().map(|c| c.op.is_none()).collect();
    let mut finished = started.clone();
    let mut broken = vec![false; n];
    // The workspace a CreateWorkspace made: the policies after it name its id.
    let created = RefCell::new(None::<Workspace>);
    let created = &created;
    let mut running = FuturesUnordered::new();
    loop {
        // `after` always points at earlier changes, so one pass in order
        // propagates skips down whole chains.
        for i in 0..n {
            if started[i] {
                continue;
            }
            let after = plan.changes[i].after.clone();
            if let Some(&dep) = after.iter().find(|&&d| broken[d]) {
                started[i] = true;
                broken[i] = true;
                let dep = &plan.changes[dep];
                let reason = format!(
                    "not attempted: it needs {} {} which failed",
                    dep.resource.label(),
                    dep.name
                );
                let change = &mut plan.changes[i];
                change.status = Status::Skipped;
                change.error = Some(reason);
            } else if after.iter().all(|&d| finished[d]) {
                started[i] = true;
                if let Some(op) = plan.changes[i].op.clone() {
                    let scope = plan.scope_of(&op);
                    running.push(async move {
                        let cell = scope.and_then(|scope| shared_cell(options, &scope, &op));
                        let result = match cell {
                            Some(cell) => {
                                execute_shared(&cell, &op, aws, cluster, options, created).await
                            }
                            None => execute(&op, aws, cluster, options, created).await,
                        };
                        (i, result)
                    });
                }
            }
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        let change = &mut plan.changes[i];
        match result {
            Ok(()) => {
                finished[i] = true;
                change.status = Status::Applied;
            }
            Err(e) => {
                broken[i] = true;
                change.status = Status::Failed;
                change.error = Some(e.to_string());
            }
        }
    }
    drop(running);
    if let Some(w) = created.borrow().as_ref() {
        plan.workspace = Some(WorkspaceSummary::of(w));
    }
    let failures: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.status == Status::Failed)
        .map(|c| {
            format!(
                "{} {}: {}",
                c.resource.label(),
                c.name,
                c.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::ApplyFailed {
            failures,
            total: plan.writes(),
        })
    }
}

fn shared_cell(options: &ApplyOptions, scope: &str, op: &Op) -> Option<Rc<OnceCell<SharedResult>>> {
    let shared = options.shared.as_ref()?;
    shared.cell(&SharedWrites::key(scope, op))
}

/// A write shared with other clusters: made by whichever gets here first;
/// the others take its answer (a failure included: it is theirs too).
async fn execute_shared<A: Aws, C: Cluster>(
    cell: &OnceCell<SharedResult>,
    op: &Op,
    aws: &A,
    cluster: Option<&C>,
    options: &ApplyOptions,
    created: &RefCell<Option<Workspace>>,
) -> Result<()> {
    let answer = cell
        .get_or_init(|| async {
            match execute(op, aws, cluster, options, created).await {
                Ok(()) => Ok(created.borrow().clone()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
        .clone();
    match answer {
        Ok(workspace) => {
            if let (Op::CreateWorkspace { .. }, Some(w)) = (op, workspace) {
                *created.borrow_mut() = Some(w);
            }
            Ok(())
        }
        Err(message) => Err(Error::SharedChange(message)),
    }
}

/// Waiting out IAM's eventual consistency: 250 ms, doubling to 4 s, within
/// a window.
pub(crate) struct Backoff {
    start: Instant,
    delay: Duration,
    window: Duration,
}

impl Backoff {
    pub(crate) fn new(window: Duration) -> Backoff {
        Backoff {
            start: Instant::now(),
            delay: Duration::from_millis(250),
            window,
        }
    }

    /// Seconds since the first try.
    pub(crate) fn elapsed_secs(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    /// Waits before the next try; false, without waiting, when the next try
    /// would fall outside the window.
    pub(crate) async fn wait(&mut self) -> bool {
        if self.start.elapsed() + self.delay > self.window {
            return false;
        }
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(4));
        true
    }
}

/// Retries `call` while IAM's eventual consistency rejects it, within the window.
async fn settle<T, F, Fut>(window: Duration, mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut backoff = Backoff::new(window);
    loop {
        match call().await {
            Err(e) if e.is_eventual_consistency() => {
                tracing::debug!(action = e.action, resource = %e.resource, "eventual consistency, retrying");
                if !backoff.wait().await {
                    let mut e = e;
                    e.message = format!(
                        "{} (still rejected after {} s; IAM can take a while to see a new OIDC provider or role: run again in a minute)",
                        e.message.trim_end_matches('.'),
                        backoff.elapsed_secs()
                    );
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

/// Absence is the goal of a delete: "already gone" counts as done.
fn gone_ok(result: Result<(), AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if e.kind == AwsErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A policy document with the id of the workspace this run created in place
/// of [`CREATED_WORKSPACE`].
fn with_created_workspace(document: &str, created: &RefCell<Option<Workspace>>) -> Result<String> {
    if !document.contains(CREATED_WORKSPACE) {
        return Ok(document.to_string());
    }
    match created.borrow().as_ref() {
        Some(w) => Ok(document.replace(CREATED_WORKSPACE, &w.id)),
        None => Err(Error::Usage(
            "a policy waits for a workspace this run did not create: run again".into(),
        )),
    }
}

async fn execute<A: Aws, C: Cluster>(
    op: &Op,
    aws: &A,
    cluster: Option<&C>,
    options: &ApplyOptions,
    created: &RefCell<Option<Workspace>>,
) -> Result<()> {
    let window = options.consistency_window;
    match op {
        Op::CreateOidcProvider {
            arn,
            url,
            client_id,
            tags,
        } => match aws
            .create_oidc_provider(url, std::slice::from_ref(client_id), tags)
            .await
        {
            // Someone made it meanwhile: make sure it has our audience.
            Err(e) if e.kind == AwsErrorKind::AlreadyExists => {
                if let Some(p) = aws.oidc_provider(arn).await? {
                    if !p.client_ids.contains(client_id) {
                        aws.add_oidc_client_id(arn, client_id).await?;
                    }
                }
                Ok(())
            }
            other => Ok(other.map(drop)?),
        },
        Op::AddOidcClientId { arn, client_id } => {
            Ok(aws.add_oidc_client_id(arn, client_id).await?)
        }
        Op::DeleteOidcProvider { arn } => Ok(gone_ok(aws.delete_oidc_provider(arn).await)?),
        Op::CreatePolicy {
            name,
            path,
            arn,
            document,
            tags,
        } => {
            let document = &with_created_workspace(document, created)?;
            match aws.create_policy(name, path, document, tags).await {
                // Someone made it meanwhile: converge its document, once.
                Err(e) if e.kind == AwsErrorKind::AlreadyExists => {
                    ensure_policy_document(aws, arn, document).await
                }
                other => Ok(other.map(drop)?),
            }
        }
        Op::UpdatePolicy {
            arn,
            document,
            delete_first,
            delete_after,
        } => {
            let document = &with_created_workspace(document, created)?;
            if let Some(v) = delete_first {
                gone_ok(aws.delete_policy_version(arn, v).await)?;
            }
            match aws.create_policy_version(arn, document).await {
                // Another run added a version meanwhile: look again.
                Err(e) if e.kind == AwsErrorKind::LimitExceeded => {
                    ensure_policy_document(aws, arn, document).await?
                }
                other => other?,
            }
            // The new default is in place: the versions that grant more go.
            futures::future::try_join_all(
                delete_after
                    .iter()
                    .map(|v| async move { gone_ok(aws.delete_policy_version(arn, v).await) }),
            )
            .await?;
            Ok(())
        }
        Op::DeletePolicy { arn, versions } => {
            for v in versions {
                gone_ok(aws.delete_policy_version(arn, v).await)?;
            }
            Ok(gone_ok(aws.delete_policy(arn).await)?)
        }
        Op::CreateRole { role, grant } => {
            match settle(window, || aws.create_role(role)).await {
                // Someone made it meanwhile: add our trust to theirs.
                Err(e) if e.kind == AwsErrorKind::AlreadyExists => {
                    let Some(existing) = aws.role(&role.name).await? else {
                        return Err(e.into());
                    };
                    let doc: serde_json::Value = serde_json::from_str(&existing.trust_policy)
                        .map_err(|err| Error::BadDocument {
                            what: "trust policy",
                            resource: existing.arn.clone(),
                            reason: err.to_string(),
                        })?;
                    let merged = match grant {
                        TrustGrant::Irsa(subject) => subject.add_to(&doc),
                        TrustGrant::PodIdentity(subject) => subject.add_to(&doc),
                        TrustGrant::Fargate { source_arn } => {
                            match policy::fargate_trust(&doc, source_arn) {
                                policy::FargateTrust::Covered => doc.clone(),
                                policy::FargateTrust::NotCovered { index, .. } => {
                                    policy::add_fargate_source(&doc, index, source_arn)
                                }
                                _ => policy::add_fargate_statement(&doc, source_arn),
                            }
                        }
                    };
                    if merged != doc {
                        let text = policy::minify(&merged);
                        settle(window, || aws.update_trust(&role.name, &text)).await?;
                    }
                    Ok(())
                }
                other => Ok(other.map(drop)?),
            }
        }
        Op::UpdateTrust { role, document } => {
            Ok(settle(window, || aws.update_trust(role, document)).await?)
        }
        Op::DeleteRole { role, detach } => {
            futures::future::try_join_all(
                detach
                    .iter()
                    .map(|arn| async move { gone_ok(aws.detach_policy(role, arn).await) }),
            )
            .await?;
            Ok(gone_ok(aws.delete_role(role).await)?)
        }
        Op::AttachPolicy { role, policy_arn } => {
            Ok(settle(window, || aws.attach_policy(role, policy_arn)).await?)
        }
        Op::CreateNamespace { name } => Ok(need(cluster)?.create_namespace(name).await?),
        Op::ApplyServiceAccount {
            namespace,
            name,
            annotations,
            labels,
        } => {
            let answered = need(cluster)?
                .apply_service_account(namespace, name, annotations, labels)
                .await?;
            // Done only when the answered object carries what was applied.
            let missing: Vec<&str> = annotations
                .iter()
                .filter(|(k, v)| answered.annotations.get(*k) != Some(v))
                .chain(
                    labels
                        .iter()
                        .filter(|(k, v)| answered.labels.get(*k) != Some(v)),
                )
                .map(|(k, _)| k.as_str())
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(KubeError::new(
                    "patch",
                    format!("serviceaccounts {namespace}/{name}"),
                    KubeErrorKind::Other,
                    format!(
                        "the apply was accepted, but the answered object does not carry {}: run again, and check for an admission webhook rewriting ServiceAccounts",
                        missing.join(", ")
                    ),
                )
                .into())
            }
        }
        Op::RemoveAnnotation {
            namespace,
            name,
            key,
            expected,
        } => match need(cluster)?
            .remove_annotation(namespace, name, key, expected)
            .await?
        {
            Removal::Removed | Removal::Gone => Ok(()),
            Removal::Changed => Err(KubeError::new(
                "patch",
                format!("serviceaccounts {namespace}/{name}"),
                KubeErrorKind::Conflict,
                format!(
                    "annotation {key} no longer points at {expected} (someone changed it since it was read), so it was left alone: run again to see what it holds now"
                ),
            )
            .into()),
        },
        Op::DeleteServiceAccount { namespace, name } => Ok(need(cluster)?
            .delete_service_account(namespace, name)
            .await?),
        Op::CreateWorkspace { alias, tags } => {
            let made = aws.create_workspace(alias, tags).await?;
            // The answer has no endpoint: read it back (it may still be CREATING).
            let described = aws.workspace(&made.id).await?.unwrap_or(made);
            *created.borrow_mut() = Some(described);
            Ok(())
        }
        Op::DeleteWorkspace { id } => Ok(gone_ok(aws.delete_workspace(id).await)?),
        Op::RestartWorkload { namespace, owner } => Ok(need(cluster)?
            .restart(namespace, owner, &crate::clock::now_rfc3339())
            .await?),
        Op::DeletePod { namespace, name } => {
            Ok(need(cluster)?.delete_pod(namespace, name).await?)
        }
        Op::CreateAssociation {
            cluster,
            namespace,
            service_account,
            role_arn,
            tags,
        } => {
            // IAM's eventual consistency: EKS can reject a role created a moment ago.
            match settle(window, || {
                aws.create_pod_identity_association(cluster, namespace, service_account, role_arn, tags)
            })
            .await
            {
                // Someone made one meanwhile: fine if it binds our role.
                Err(e) if e.kind == AwsErrorKind::AlreadyExists => {
                    let found = aws
                        .pod_identity_associations(cluster, namespace, service_account)
                        .await?;
                    if found.iter().any(|a| &a.role_arn == role_arn) {
                        Ok(())
                    } else {
                        Err(e.into())
                    }
                }
                other => Ok(other.map(drop)?),
            }
        }
        Op::UpdateAssociation {
            cluster,
            id,
            role_arn,
        } => Ok(aws.update_pod_identity_association(cluster, id, role_arn).await?),
        Op::DeleteAssociation { cluster, id } => {
            Ok(gone_ok(aws.delete_pod_identity_association(cluster, id).await)?)
        }
        Op::CreateAddon {
            cluster,
            name,
            tags,
        } => match aws.create_addon(cluster, name, tags).await {
            // Installed meanwhile: that is the goal.
            Err(e) if e.kind == AwsErrorKind::AlreadyExists => Ok(()),
            other => Ok(other?),
        },
    }
}

fn need<C>(cluster: Option<&C>) -> Result<&C> {
    cluster.ok_or_else(|| {
        Error::Usage(
            "this step needs the Kubernetes cluster, but no kubeconfig was found: pass --kubeconfig or --context"
                .into(),
        )
    })
}

/// Makes `document` the policy's default unless it already means the same;
/// frees a version slot first when IAM's five are used.
async fn ensure_policy_document<A: Aws>(aws: &A, arn: &str, document: &str) -> Result<()> {
    let versions = aws.policy_versions(arn).await?;
    if let Some(default) = versions.iter().find(|v| v.is_default) {
        let current = aws.policy_document(arn, &default.id).await?;
        let same = match (
            serde_json::from_str::<serde_json::Value>(&current),
            serde_json::from_str::<serde_json::Value>(document),
        ) {
            (Ok(a), Ok(b)) => policy::same_meaning(&a, &b),
            _ => false,
        };
        if same {
            return Ok(());
        }
    }
    if versions.len() >= 5 {
        if let Some(oldest) = versions
            .iter()
            .filter(|v| !v.is_default)
            .min_by_key(|v| v.created)
        {
            gone_ok(aws.delete_policy_version(arn, &oldest.id).await)?;
        }
    }
    Ok(aws.create_policy_version(arn, document).await?)
}

#[cfg(test)]
mod tests;
