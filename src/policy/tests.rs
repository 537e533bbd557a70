use super::*;

fn subject() -> IrsaSubject {
    IrsaSubject {
        provider_arn:
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC".into(),
        host_path: "oidc.eks.us-east-1.amazonaws.com/id/ABC".into(),
        namespace: "prometheus".into(),
        service_account: "amp-iamproxy-ingest-service-account".into(),
    }
}

/// What the AWS guide's script writes: sub only, no aud.
fn guide_trust(s: &IrsaSubject) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": s.provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{}:sub", s.host_path): s.subject()}}
    }]})
}

#[test]
fn written_trust_has_sub_and_aud_for_exactly_one_subject() {
    let s = subject();
    let doc = s.trust_policy();
    let eq = &doc["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(
        eq["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"],
        "system:serviceaccount:prometheus:amp-iamproxy-ingest-service-account"
    );
    assert_eq!(
        eq["oidc.eks.us-east-1.amazonaws.com/id/ABC:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        doc["Statement"][0]["Principal"]["Federated"],
        s.provider_arn.as_str()
    );
    assert_eq!(s.state(&doc), TrustState::Trusted);
    assert!(!minify(&doc).contains(' '), "sent minified");
}

#[test]
fn guide_trust_lacks_audience_and_gets_it_in_place() {
    let s = subject();
    let doc = guide_trust(&s);
    assert_eq!(s.state(&doc), TrustState::MissingAudience { index: 0 });
    let fixed = s.add_to(&doc);
    assert_eq!(statements(&fixed).len(), 1);
    assert_eq!(s.state(&fixed), TrustState::Trusted);
}

#[test]
fn adding_a_subject_keeps_other_statements_and_subjects() {
    let s = subject();
    let other = IrsaSubject {
        namespace: "other".into(),
        ..subject()
    };
    let foreign = json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
    let doc = json!({"Version": "2012-10-17", "Statement": [other.statement(), foreign.clone()]});
    assert_eq!(s.state(&doc), TrustState::Missing);
    let out = s.add_to(&doc);
    let sts = statements(&out);
    assert_eq!(sts.len(), 3);
    assert_eq!(sts[0], &other.statement());
    assert_eq!(sts[1], &foreign);
    assert_eq!(other.state(&out), TrustState::Trusted);
    assert_eq!(s.state(&out), TrustState::Trusted);
}

#[test]
fn adding_a_trusted_subject_changes_nothing() {
    let s = subject();
    let doc = s.trust_policy();
    assert_eq!(s.add_to(&doc), doc);
}

#[test]
fn subject_in_a_shared_list_without_aud_gets_its_own_statement() {
    let s = subject();
    let key = format!("{}:sub", s.host_path);
    let doc = json!({"Statement": {"Effect": "Allow", "Principal": {"Federated": s.provider_arn},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Condition": {"StringEquals": {key.clone(): [s.subject(), "system:serviceaccount:x:y"]}}}});
    let out = s.add_to(&doc);
    assert_eq!(statements(&out).len(), 2);
    // The shared statement is untouched: no audience narrowing of other subjects.
    assert!(
        statements(&out)[0]["Condition"]["StringEquals"]
            .get(format!("{}:aud", s.host_path))
            .is_none()
    );
    assert_eq!(s.state(&out), TrustState::Trusted);
}

#[test]
fn trust_from_another_provider_does_not_count() {
    let s = subject();
    let other = IrsaSubject {
        provider_arn:
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ZZZ".into(),
        ..subject()
    };
    assert_eq!(s.state(&other.trust_policy()), TrustState::Missing);
}

#[test]
fn deny_or_other_action_does_not_count_as_trust() {
    let s = subject();
    let mut deny = s.trust_policy();
    deny["Statement"][0]["Effect"] = json!("Deny");
    assert_eq!(s.state(&deny), TrustState::Missing);
    let mut other = s.trust_policy();
    other["Statement"][0]["Action"] = json!("sts:AssumeRole");
    assert_eq!(s.state(&other), TrustState::Missing);
}

#[test]
fn removing_a_subject_keeps_the_rest() {
    let s = subject();
    let other = IrsaSubject {
        service_account: "keep".into(),
        ..subject()
    };
    let doc = json!({"Version": "2012-10-17", "Statement": [s.statement(), other.statement()]});
    let out = s.remove_from(&doc);
    assert_eq!(statements(&out), vec![&other.statement()]);
    // from a shared list, only our entry goes
    let key = format!("{}:sub", s.host_path);
    let shared = json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": s.provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {key.clone(): [s.subject(), "system:serviceaccount:x:y"]}}}]});
    let out = s.remove_from(&shared);
    assert_eq!(
        statements(&out)[0]["Condition"]["StringEquals"][&key],
        "system:serviceaccount:x:y"
    );
    // removing the only subject leaves no statement
    assert!(statements(&s.remove_from(&s.trust_policy())).is_empty());
}

#[test]
fn documents_compare_by_meaning() {
    let a = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["aps:GetSeries", "aps:RemoteWrite"], "Resource": "*"}]});
    let b = json!({"Version": "2012-10-17", "Statement": {"Sid": "x", "Effect": "Allow",
        "Action": ["APS:RemoteWrite", "aps:GetSeries", "aps:GetSeries"], "Resource": ["*"]}});
    assert!(same_meaning(&a, &b));
    let c = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["aps:GetSeries"], "Resource": "*"}]});
    assert!(!same_meaning(&a, &c));
}

#[test]
fn permission_diff_names_actions_and_resources() {
    let have = permission_policy(&["aps:RemoteWrite"], "*");
    let want = permission_policy(
        &["aps:RemoteWrite", "aps:GetSeries"],
        "arn:aws:aps:us-east-1:1:workspace/ws-1",
    );
    assert_eq!(
        permission_diff(&have, &want),
        "actions +aps:GetSeries; resources +arn:aws:aps:us-east-1:1:workspace/ws-1 -*"
    );
}

const SRC: &str = "arn:aws:eks:us-east-1:111122223333:fargateprofile/demo/*";

#[test]
fn glob_matches_like_arnlike() {
    assert!(glob_match(
        "arn:aws:eks:*:111122223333:fargateprofile/*",
        SRC
    ));
    assert!(glob_match(SRC, SRC));
    assert!(glob_match("arn:aws:eks:us-east-?:*", SRC));
    assert!(!glob_match(
        "arn:aws:eks:us-west-2:111122223333:fargateprofile/demo/*",
        SRC
    ));
    assert!(!glob_match(
        "arn:aws:eks:us-east-1:111122223333:fargateprofile/other/*",
        SRC
    ));
    assert!(glob_match("*", ""));
    assert!(!glob_match("", "x"));
}

#[test]
fn fargate_trust_covered_by_exact_or_wildcard() {
    assert_eq!(
        fargate_trust(&fargate_trust_policy(SRC), SRC),
        FargateTrust::Covered
    );
    let all = fargate_trust_policy("arn:aws:eks:*:111122223333:fargateprofile/*/*");
    assert_eq!(fargate_trust(&all, SRC), FargateTrust::Covered);
}

#[test]
fn fargate_string_source_becomes_a_list_with_ours_on_top() {
    let other = "arn:aws:eks:us-east-1:111122223333:fargateprofile/other/*";
    let doc = fargate_trust_policy(other);
    assert_eq!(
        fargate_trust(&doc, SRC),
        FargateTrust::NotCovered {
            index: 0,
            sources: vec![other.into()]
        }
    );
    let out = add_fargate_source(&doc, 0, SRC);
    assert_eq!(
        out["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        json!([SRC, other])
    );
    assert_eq!(fargate_trust(&out, SRC), FargateTrust::Covered);
}

#[test]
fn fargate_list_grows_and_other_conditions_and_statements_stay() {
    let a = "arn:aws:eks:us-east-1:111122223333:fargateprofile/a/*";
    let b = "arn:aws:eks:us-east-1:111122223333:fargateprofile/b/*";
    let ec2 = json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
    let doc = json!({"Version": "2012-10-17", "Statement": [ec2.clone(), {
        "Effect": "Allow", "Principal": {"Service": FARGATE_SERVICE}, "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:SourceArn": [a, b]}, "StringEquals": {"aws:SourceAccount": "111122223333"}}}]});
    let out = add_fargate_source(&doc, 1, SRC);
    assert_eq!(out["Statement"][0], ec2);
    assert_eq!(
        out["Statement"][1]["Condition"]["ArnLike"]["aws:SourceArn"],
        json!([SRC, a, b])
    );
    assert_eq!(
        out["Statement"][1]["Condition"]["StringEquals"]["aws:SourceAccount"],
        "111122223333"
    );
}

#[test]
fn fargate_without_source_arn_is_unconditioned_and_hardening_adds_it() {
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": [FARGATE_SERVICE]}, "Action": "sts:AssumeRole"}]});
    assert_eq!(
        fargate_trust(&doc, SRC),
        FargateTrust::Unconditioned { index: 0 }
    );
    let hardened = add_fargate_source(&doc, 0, SRC);
    assert_eq!(
        hardened["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        SRC
    );
    assert_eq!(fargate_trust(&hardened, SRC), FargateTrust::Covered);
}

#[test]
fn role_for_something_else_has_no_fargate_statement() {
    let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    assert_eq!(fargate_trust(&doc, SRC), FargateTrust::NoStatement);
    let out = add_fargate_statement(&doc, SRC);
    assert_eq!(statements(&out).len(), 2);
    assert_eq!(fargate_trust(&out, SRC), FargateTrust::Covered);
}

#[test]
fn removing_a_fargate_source_keeps_others_and_counts_them() {
    let other = "arn:aws:eks:us-east-1:111122223333:fargateprofile/other/*";
    let doc = add_fargate_source(&fargate_trust_policy(other), 0, SRC);
    let (out, left) = remove_fargate_source(&doc, SRC);
    assert_eq!(left, 1);
    assert_eq!(
        out["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        other
    );
    let (out, left) = remove_fargate_source(&fargate_trust_policy(SRC), SRC);
    assert_eq!(left, 0);
    assert!(statements(&out).is_empty());
}

#[test]
fn federated_mentions_are_found() {
    let s = subject();
    assert!(mentions_federated(&s.trust_policy(), &s.provider_arn));
    assert!(!mentions_federated(
        &fargate_trust_policy(SRC),
        &s.provider_arn
    ));
}
