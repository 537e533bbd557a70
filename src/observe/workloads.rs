//! The pods that run as the recipe's ServiceAccounts (round one: one list of
//! the namespace), and the controllers above their owners (round two: each
//! ReplicaSet's Deployment, each Job's CronJob), so a stale pod can be named
//! by the workload a person restarts.

use crate::cluster::{Cluster, Owner, Pod};
use crate::error::Result;
use futures::future::try_join_all;
use std::collections::{BTreeMap, BTreeSet};

/// Kinds whose own owner names the workload people know.
const INTERMEDIATE: [&str; 2] = ["ReplicaSet", "Job"];

/// Round one: the namespace's pods that run as one of `service_accounts`.
pub(super) async fn pods<C: Cluster>(
    cluster: &C,
    namespace: &str,
    service_accounts: &[&str],
) -> Result<Vec<Pod>> {
    let pods = cluster.pods(namespace).await?;
    Ok(pods
        .into_iter()
        .filter(|p| service_accounts.contains(&p.service_account.as_str()))
        .collect())
}

/// Round two: the owner of each ReplicaSet or Job that owns one of `pods`.
pub(super) async fn owners<C: Cluster>(
    cluster: &C,
    namespace: &str,
    pods: &[Pod],
) -> Result<BTreeMap<Owner, Option<Owner>>> {
    let wanted: BTreeSet<&Owner> = pods
        .iter()
        .filter_map(|p| p.owner.as_ref())
        .filter(|o| INTERMEDIATE.contains(&o.kind.as_str()))
        .collect();
    let found = try_join_all(wanted.into_iter().map(|o| async move {
        let parent = cluster.owner_of(namespace, &o.kind, &o.name).await?;
        Ok::<_, crate::Error>((o.clone(), parent))
    }))
    .await?;
    Ok(found.into_iter().collect())
}
