//! End-to-end (issue 13, cost flat in account size): with the account known
//! from the context, a run reads the recipe's policies by ARN, however many
//! local policies the account holds; only without it does it list them.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use futures::StreamExt;
use harness::{CLUSTER, Env};

const POLICIES: usize = 1_100; // more than one ListPolicies page (1,000)

async fn crowded_account(env: &Env) {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    futures::stream::iter(0..POLICIES)
        .map(|i| async move {
            env.iam
                .create_policy()
                .policy_name(format!("team-policy-{i:04}"))
                .policy_document(doc)
                .send()
                .await
                .expect("seed a policy");
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

fn count(calls: &[String], action: &str) -> usize {
    calls.iter().filter(|c| c.as_str() == action).count()
}

#[tokio::test]
async fn a_crowded_account_costs_two_policy_reads_when_the_context_names_it() {
    let env = Env::start().await;
    crowded_account(&env).await;
    env.reset_calls();

    let out = env.run(&["setup"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let calls = env.aws_calls();
    assert_eq!(count(&calls, "ListPolicies"), 0, "{calls:?}");
    assert_eq!(
        count(&calls, "GetPolicy"),
        2,
        "the recipe's two policies: {calls:?}"
    );

    // A re-run reads them the same way and writes nothing.
    env.reset_calls();
    let again = env.run(&["setup"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(count(&env.aws_calls(), "ListPolicies"), 0);

    // An eksctl context names no account: the list, under the role path.
    env.write_eksctl_kubeconfig(CLUSTER);
    env.reset_calls();
    let listed = env.run(&["status", "-n", "prometheus"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(
        count(&env.aws_calls(), "ListPolicies") >= 2,
        "pages: {:?}",
        env.aws_calls()
    );
}
