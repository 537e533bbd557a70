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
    // The other subject's recipe statement takes ours into its sub list.
    assert_eq!(sts.len(), 2);
    assert_eq!(
        sts[0]["Condition"]["StringEquals"][format!("{}:sub", s.host_path)],
        json!([other.subject(), s.subject()])
    );
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
    // A `*` in the pattern stays a wildcard where the text has a literal `*`.
    assert!(glob_match("a*b", "a*xb"));
    assert!(glob_match("arn:*/*", "arn:x/demo/*"));
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

// ---------------------------------------------------------------------------
// grants_beyond

const INGEST: [&str; 4] = [
    "aps:RemoteWrite",
    "aps:GetSeries",
    "aps:GetLabels",
    "aps:GetMetricMetadata",
];
const WS_1: &str = "arn:aws:aps:us-east-1:111122223333:workspace/ws-1";

fn allow(action: Value, resource: Value) -> Value {
    json!({"Effect": "Allow", "Action": action, "Resource": resource})
}

fn doc(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[test]
fn the_recipe_grants_nothing_beyond_itself_in_any_spelling() {
    let recipe = permission_policy(&INGEST, "*");
    assert!(grants_beyond(&recipe, &recipe).is_empty());
    // Statement an object, Action a string, names in other cases, a Sid.
    let odd = json!({"Statement": {"Sid": "x", "Effect": "Allow",
        "Action": "APS:remotewrite", "Resource": ["*"]}});
    assert!(grants_beyond(&odd, &recipe).is_empty());
    let upper = json!({"Statement": {"Effect": "Allow", "Action": ["APS:*"], "Resource": "*"}});
    assert!(grants_beyond(&recipe, &upper).is_empty());
}

#[test]
fn wildcard_grants_beyond_the_ingest_recipe_are_named() {
    let old = permission_policy(&["iam:*", "aps:*", "aps:RemoteWrite"], "*");
    let recipe = permission_policy(&INGEST, "*");
    assert_eq!(grants_beyond(&old, &recipe), ["aps:* on *", "iam:* on *"]);
    // And the other way round: the recipe is a subset of the wide policy.
    assert!(grants_beyond(&recipe, &old).is_empty());
    // `*` as an action covers and is covered only by `*`.
    let star = permission_policy(&["*"], "*");
    assert!(grants_beyond(&old, &star).is_empty());
    assert_eq!(grants_beyond(&star, &old), ["* on *"]);
}

#[test]
fn duplicates_across_statements_and_cases_are_reported_once_in_order() {
    let old = doc(vec![
        allow(json!(["iam:PassRole", "aps:*"]), json!("*")),
        allow(json!("APS:*"), json!(["*"])),
        allow(json!("ec2:*"), json!("*")),
    ]);
    let recipe = permission_policy(&INGEST, "*");
    assert_eq!(
        grants_beyond(&old, &recipe),
        ["aps:* on *", "ec2:* on *", "iam:PassRole on *"]
    );
}

#[test]
fn action_patterns_cover_only_what_they_surely_cover() {
    let old = permission_policy(&["aps:Get*"], "*");
    assert!(grants_beyond(&old, &permission_policy(&["aps:*"], "*")).is_empty());
    assert!(grants_beyond(&old, &permission_policy(&["aps:G?t*"], "*")).is_empty());
    assert!(grants_beyond(&old, &permission_policy(&["APS:GET*"], "*")).is_empty());
    // Get* is wider than every listed Get action and than a single `?`.
    assert_eq!(
        grants_beyond(&old, &permission_policy(&INGEST, "*")),
        ["aps:Get* on *"]
    );
    assert_eq!(
        grants_beyond(&old, &permission_policy(&["aps:Get?"], "*")),
        ["aps:Get* on *"]
    );
    let exact = permission_policy(&["aps:GetSeries"], "*");
    assert!(grants_beyond(&exact, &permission_policy(&["aps:Get?eries"], "*")).is_empty());
}

#[test]
fn workspace_scoped_resources_are_compared_as_patterns() {
    let scoped = permission_policy(&INGEST, WS_1);
    let everywhere = permission_policy(&INGEST, "*");
    assert!(grants_beyond(&scoped, &everywhere).is_empty());
    let beyond = grants_beyond(&everywhere, &scoped);
    assert_eq!(beyond.len(), 4);
    assert!(beyond.contains(&"aps:RemoteWrite on *".to_string()));
    let all_workspaces =
        permission_policy(&INGEST, "arn:aws:aps:us-east-1:111122223333:workspace/*");
    assert!(grants_beyond(&scoped, &all_workspaces).is_empty());
    let other = permission_policy(&["aps:RemoteWrite"], WS_1);
    let ws_2 = permission_policy(
        &["aps:RemoteWrite"],
        "arn:aws:aps:us-east-1:111122223333:workspace/ws-2",
    );
    assert_eq!(
        grants_beyond(&ws_2, &other),
        ["aps:RemoteWrite on arn:aws:aps:us-east-1:111122223333:workspace/ws-2"]
    );
    // ARNs are case-sensitive, unlike action names.
    let upper = permission_policy(&["aps:RemoteWrite"], &WS_1.to_uppercase());
    assert_eq!(grants_beyond(&upper, &other).len(), 1);
}

#[test]
fn not_action_and_not_resource_always_count_as_beyond() {
    let recipe = permission_policy(&INGEST, "*");
    let not_action = json!({"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"}]});
    assert_eq!(
        grants_beyond(&not_action, &permission_policy(&["*"], "*")),
        ["NotAction [iam:*, sts:*] on *"]
    );
    let not_resource = json!({"Statement": [{"Effect": "Allow", "Action": "aps:RemoteWrite", "NotResource": WS_1}]});
    assert_eq!(
        grants_beyond(&not_resource, &recipe),
        [format!("aps:RemoteWrite on NotResource [{WS_1}]")]
    );
    // A NotAction statement of the new document is not reasoned about.
    let new_not =
        json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]});
    assert_eq!(
        grants_beyond(&permission_policy(&["aps:RemoteWrite"], "*"), &new_not),
        ["aps:RemoteWrite on *"]
    );
}

#[test]
fn conditions_only_narrow_and_denies_are_ignored() {
    let recipe = permission_policy(&INGEST, "*");
    let mut conditional = recipe.clone();
    conditional["Statement"][0]["Condition"] =
        json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}});
    // An old conditional grant is covered by an unconditioned one …
    assert!(grants_beyond(&conditional, &recipe).is_empty());
    // … but a new conditional statement covers nothing.
    assert_eq!(grants_beyond(&recipe, &conditional).len(), 4);
    // An empty Condition is no condition.
    let mut empty = recipe.clone();
    empty["Statement"][0]["Condition"] = json!({});
    assert!(grants_beyond(&recipe, &empty).is_empty());
    let deny_iam = json!({"Effect": "Deny", "Action": "iam:*", "Resource": "*"});
    let old = doc(vec![
        deny_iam.clone(),
        allow(json!("aps:RemoteWrite"), json!("*")),
    ]);
    assert!(grants_beyond(&old, &recipe).is_empty());
    // A Deny in the new document does not make it grant more.
    let new = doc(vec![
        json!({"Effect": "Deny", "Action": "aps:*", "Resource": "*"}),
        allow(json!("aps:RemoteWrite"), json!("*")),
    ]);
    assert!(grants_beyond(&permission_policy(&["aps:RemoteWrite"], "*"), &new).is_empty());
}

#[test]
fn odd_documents_grant_nothing_and_do_not_panic() {
    let recipe = permission_policy(&INGEST, "*");
    for odd in [
        json!(null),
        json!("text"),
        json!([1, 2]),
        json!({"Statement": 7}),
        json!({"Statement": [null, 1, "x", {"Effect": "Allow"}, {"Effect": "Allow", "Action": 5, "Resource": {"a": 1}}]}),
    ] {
        assert!(grants_beyond(&odd, &recipe).is_empty(), "{odd}");
        assert_eq!(grants_beyond(&recipe, &odd).len(), 4, "{odd}");
    }
}

// ---------------------------------------------------------------------------
// Trust compaction

fn other_subject(sa: &str) -> IrsaSubject {
    IrsaSubject {
        namespace: "apps".into(),
        service_account: sa.into(),
        ..subject()
    }
}

fn sub_of(st: &Value, s: &IrsaSubject) -> Value {
    st["Condition"]["StringEquals"][format!("{}:sub", s.host_path)].clone()
}

#[test]
fn compaction_adds_the_subject_to_a_recipe_statement_and_saves_characters() {
    let s = subject();
    let a = other_subject("a");
    let mut recipe = a.statement();
    recipe["Sid"] = json!("shared");
    let doc = doc(vec![recipe]);
    let out = s.add_to(&doc);
    let sts = statements(&out);
    assert_eq!(sts.len(), 1);
    assert_eq!(sts[0]["Sid"], "shared");
    assert_eq!(sub_of(sts[0], &s), json!([a.subject(), s.subject()]));
    assert_eq!(s.state(&out), TrustState::Trusted);
    assert_eq!(a.state(&out), TrustState::Trusted);
    assert!(
        irsa_trust_findings(&out, &s).len() == 1,
        "a is the other subject"
    );
    let appended = with_statements(&doc, vec![statements(&doc)[0].clone(), s.statement()]);
    assert!(compact_size(&out) < compact_size(&appended));
    // A list grows in its order, ours last; aud may be a one-element list.
    let b = other_subject("b");
    let mut listed = a.statement();
    listed["Condition"]["StringEquals"][format!("{}:sub", s.host_path)] =
        json!([b.subject(), a.subject()]);
    listed["Condition"]["StringEquals"][format!("{}:aud", s.host_path)] = json!([STS_AUDIENCE]);
    listed["Action"] = json!(["sts:assumerolewithwebidentity"]);
    listed["Principal"]["Federated"] = json!([s.provider_arn]);
    let out = s.add_to(&doc_one(listed));
    assert_eq!(statements(&out).len(), 1);
    assert_eq!(
        sub_of(statements(&out)[0], &s),
        json!([b.subject(), a.subject(), s.subject()])
    );
}

fn doc_one(st: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": st})
}

#[test]
fn compaction_fills_a_shared_role_with_far_more_subjects() {
    let s = subject();
    let (mut appended, mut compacted) = (doc(vec![]), doc(vec![]));
    for i in 0..20 {
        let next = other_subject(&format!("sa-{i}"));
        compacted = next.add_to(&compacted);
        appended = with_statements(
            &appended,
            statements(&appended)
                .into_iter()
                .cloned()
                .chain([next.statement()])
                .collect(),
        );
    }
    assert_eq!(statements(&compacted).len(), 1);
    assert!(compact_size(&appended) > TRUST_POLICY_LIMIT);
    assert!(compact_size(&s.add_to(&compacted)) < TRUST_POLICY_LIMIT);
}

#[test]
fn only_the_exact_recipe_shape_is_compacted() {
    let s = subject();
    let a = other_subject("a");
    type Change = Box<dyn Fn(&mut Value)>;
    let variants: Vec<(&str, Change)> = vec![
        ("deny", Box::new(|st| st["Effect"] = json!("Deny"))),
        (
            "two providers",
            Box::new(|st| {
                st["Principal"]["Federated"] =
                    json!([subject().provider_arn, "arn:aws:iam::1:oidc-provider/x"])
            }),
        ),
        (
            "another principal too",
            Box::new(|st| st["Principal"]["AWS"] = json!("444455556666")),
        ),
        (
            "another provider",
            Box::new(|st| st["Principal"]["Federated"] = json!("arn:aws:iam::1:oidc-provider/x")),
        ),
        (
            "two actions",
            Box::new(|st| {
                st["Action"] = json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])
            }),
        ),
        ("sts:*", Box::new(|st| st["Action"] = json!("sts:*"))),
        (
            "an extra condition key",
            Box::new(|st| {
                st["Condition"]["StringEquals"]["aws:RequestedRegion"] = json!("us-east-1")
            }),
        ),
        (
            "an extra operator",
            Box::new(|st| st["Condition"]["StringLike"] = json!({"x": "y*"})),
        ),
        (
            "no aud",
            Box::new(|st| {
                if let Some(eq) = st["Condition"]["StringEquals"].as_object_mut() {
                    eq.retain(|k, _| k.ends_with(":sub"));
                }
            }),
        ),
        (
            "another aud",
            Box::new(|st| {
                st["Condition"]["StringEquals"][format!("{}:aud", subject().host_path)] =
                    json!([STS_AUDIENCE, "other"])
            }),
        ),
        (
            "a non-string sub",
            Box::new(|st| {
                st["Condition"]["StringEquals"][format!("{}:sub", subject().host_path)] = json!([1])
            }),
        ),
        (
            "StringLike",
            Box::new(|st| {
                let eq = st["Condition"]["StringEquals"].take();
                st["Condition"] = json!({"StringLike": eq});
            }),
        ),
        (
            "a NotAction",
            Box::new(|st| st["NotAction"] = json!("iam:*")),
        ),
    ];
    for (what, change) in variants {
        let mut st = a.statement();
        change(&mut st);
        let before = doc(vec![st.clone()]);
        let out = s.add_to(&before);
        let sts = statements(&out);
        assert_eq!(sts.len(), 2, "{what}");
        assert_eq!(sts[0], &st, "{what}: untouched");
        assert_eq!(sts[1], &s.statement(), "{what}");
    }
}

#[test]
fn removing_undoes_a_compaction() {
    let s = subject();
    let a = other_subject("a");
    let single = doc(vec![a.statement()]);
    let compacted = s.add_to(&single);
    let back = s.remove_from(&compacted);
    assert_eq!(back, single, "a string again, as before");
    let b = other_subject("b");
    let listed = b.add_to(&single);
    let compacted = s.add_to(&listed);
    assert_eq!(
        sub_of(statements(&compacted)[0], &s),
        json!([a.subject(), b.subject(), s.subject()])
    );
    assert_eq!(s.remove_from(&compacted), listed);
    // Removing from the middle keeps the others' order.
    let c = other_subject("c");
    let three = c.add_to(&compacted);
    let out = s.remove_from(&three);
    assert_eq!(
        sub_of(statements(&out)[0], &s),
        json!([a.subject(), b.subject(), c.subject()])
    );
    // Removing every subject removes the statement.
    let out = b.remove_from(&a.remove_from(&s.remove_from(&compacted)));
    assert!(statements(&out).is_empty());
}

#[test]
fn compact_size_counts_characters_not_bytes_or_whitespace() {
    let mut doc = subject().trust_policy();
    let plain = compact_size(&doc);
    assert_eq!(plain, minify(&doc).len());
    doc["Statement"][0]["Sid"] = json!("Café");
    assert_eq!(
        compact_size(&doc),
        plain + r#","Sid":"Café""#.chars().count()
    );
    assert_eq!(compact_size(&doc) + 1, minify(&doc).len(), "é is two bytes");
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    let reparsed: Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(compact_size(&reparsed), compact_size(&doc));
}

// ---------------------------------------------------------------------------
// Trust findings

fn risks(findings: &[TrustFinding]) -> Vec<&str> {
    findings.iter().map(|f| f.risk.as_str()).collect()
}

fn irsa(doc: &Value) -> Vec<TrustFinding> {
    irsa_trust_findings(doc, &subject())
}

fn with_condition(condition: Value) -> Value {
    let mut st = subject().statement();
    st["Condition"] = condition;
    doc(vec![st])
}

#[test]
fn the_irsa_recipe_has_no_findings_in_any_spelling() {
    let s = subject();
    assert!(irsa(&s.trust_policy()).is_empty());
    let (sub, aud) = (
        format!("{}:sub", s.host_path),
        format!("{}:aud", s.host_path),
    );
    let odd = json!({"Statement": {"Sid": "x", "Effect": "Allow",
        "Principal": {"Federated": [s.provider_arn]},
        "Action": ["STS:AssumeRoleWithWebIdentity"],
        "Condition": {"StringEquals": {sub.clone(): [s.subject()], aud.clone(): [STS_AUDIENCE]},
            "StringLike": {sub.clone(): "system:serviceaccount:*:*"}}}});
    assert!(irsa(&odd).is_empty(), "{:?}", irsa(&odd));
    // Denies narrow; they are not findings.
    let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "sts:*"});
    assert!(irsa(&doc(vec![s.statement(), deny])).is_empty());
    // Our subject alone without aud: the planner fixes that statement itself.
    assert!(irsa(&guide_trust(&s)).is_empty());
    // A StringLike of exactly our subject names only us.
    assert!(
        irsa(&with_condition(json!({"StringLike": {sub: s.subject()},
        "StringEquals": {aud: STS_AUDIENCE}})))
        .is_empty()
    );
}

#[test]
fn a_shared_sub_list_names_the_other_service_accounts() {
    let s = subject();
    let key = format!("{}:sub", s.host_path);
    let aud = format!("{}:aud", s.host_path);
    let shared = with_condition(json!({"StringEquals": {
        key.clone(): [s.subject(), "system:serviceaccount:apps:a", "system:serviceaccount:apps:b"],
        aud.clone(): STS_AUDIENCE}}));
    assert_eq!(
        irsa(&shared),
        [TrustFinding {
            statement: "statement #1".into(),
            risk: "lets other ServiceAccounts of the cluster assume it (apps/a, apps/b)".into()
        }]
    );
    // Without aud the shared statement also takes tokens for any audience
    // (add_to leaves it alone and adds a statement of ours).
    let no_aud = with_condition(json!({"StringEquals": {
        key.clone(): [s.subject(), "system:serviceaccount:apps:a"]}}));
    assert_eq!(
        risks(&irsa(&no_aud)),
        [
            "lets other ServiceAccounts of the cluster assume it (apps/a)",
            "trusts prometheus/amp-iamproxy-ingest-service-account, apps/a without the aud condition"
        ]
    );
    // A statement for other subjects only is a finding too.
    let others = doc(vec![s.statement(), other_subject("a").statement()]);
    assert_eq!(
        irsa(&others),
        [TrustFinding {
            statement: "statement #2".into(),
            risk: "lets other ServiceAccounts of the cluster assume it (apps/a)".into()
        }]
    );
    // Conditions are ANDed: a StringLike that rules the others out narrows.
    let narrowed = with_condition(json!({
        "StringEquals": {key.clone(): [s.subject(), "system:serviceaccount:apps:a"], aud: STS_AUDIENCE},
        "StringLike": {key: "system:serviceaccount:prometheus:*"}}));
    assert!(irsa(&narrowed).is_empty());
}

#[test]
fn wildcards_and_missing_conditions_are_findings() {
    let s = subject();
    let (sub, aud) = (
        format!("{}:sub", s.host_path),
        format!("{}:aud", s.host_path),
    );
    let any = with_condition(
        json!({"StringLike": {sub.clone(): "system:serviceaccount:*:*"},
        "StringEquals": {aud.clone(): STS_AUDIENCE}}),
    );
    assert_eq!(
        risks(&irsa(&any)),
        [
            "lets any ServiceAccount of the cluster assume it (StringLike sub system:serviceaccount:*:*)"
        ]
    );
    let namespace = with_condition(
        json!({"StringLike": {sub.clone(): ["system:serviceaccount:prometheus:*"]}}),
    );
    assert_eq!(
        risks(&irsa(&namespace)),
        [
            "lets other ServiceAccounts of the cluster assume it (StringLike sub system:serviceaccount:prometheus:*)",
            "trusts system:serviceaccount:prometheus:* without the aud condition"
        ]
    );
    let no_sub = with_condition(json!({"StringEquals": {aud.clone(): STS_AUDIENCE}}));
    assert_eq!(
        risks(&irsa(&no_sub)),
        ["has no sub condition: any ServiceAccount of the cluster can assume it"]
    );
    let mut none = s.statement();
    none.as_object_mut().map(|m| m.remove("Condition"));
    assert_eq!(
        risks(&irsa(&doc(vec![none]))),
        [
            "has no sub condition: any ServiceAccount of the cluster can assume it",
            "trusts any ServiceAccount of the cluster without the aud condition"
        ]
    );
    let negated = with_condition(
        json!({"StringNotEquals": {sub: "system:serviceaccount:kube-system:x"},
        "StringEquals": {aud: STS_AUDIENCE}}),
    );
    assert_eq!(irsa(&negated).len(), 1);
    assert!(irsa(&negated)[0].risk.contains("StringNotEquals"));
}

#[test]
fn an_audience_other_than_sts_is_a_finding_even_for_our_subject() {
    let s = subject();
    let (sub, aud) = (
        format!("{}:sub", s.host_path),
        format!("{}:aud", s.host_path),
    );
    let other = with_condition(
        json!({"StringEquals": {sub: s.subject(), aud: ["sts.amazonaws.com", "vault"]}}),
    );
    assert_eq!(
        risks(&irsa(&other)),
        [
            "accepts tokens of prometheus/amp-iamproxy-ingest-service-account issued for audience vault, not only sts.amazonaws.com"
        ]
    );
    // A second statement of ours without aud is not the one the planner fixes.
    let twice = doc(vec![s.statement(), statements(&guide_trust(&s))[0].clone()]);
    assert_eq!(
        irsa(&twice),
        [TrustFinding {
            statement: "statement #2".into(),
            risk: "trusts prometheus/amp-iamproxy-ingest-service-account without the aud condition"
                .into()
        }]
    );
}

#[test]
fn other_principals_are_named() {
    let s = subject();
    let st = |principal: Value| json!({"Sid": "Extra", "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
    let cases = [
        (
            json!({"AWS": "444455556666"}),
            "lets AWS account 444455556666 assume it",
        ),
        (
            json!({"AWS": ["arn:aws:iam::444455556666:root"]}),
            "lets AWS account 444455556666 assume it",
        ),
        (
            json!({"AWS": "arn:aws:iam::444455556666:role/ci"}),
            "lets AWS principal arn:aws:iam::444455556666:role/ci assume it",
        ),
        (
            json!({"AWS": "*"}),
            "lets any AWS principal assume it (Principal AWS \"*\")",
        ),
        (json!("*"), "lets anyone assume it (Principal \"*\")"),
        (
            json!({"Service": "ec2.amazonaws.com"}),
            "lets service ec2.amazonaws.com assume it",
        ),
        (
            json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
            "lets another identity provider arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com assume it",
        ),
    ];
    for (principal, risk) in cases {
        let found = irsa(&doc(vec![s.statement(), st(principal)]));
        assert_eq!(
            found,
            [TrustFinding {
                statement: "Sid \"Extra\"".into(),
                risk: risk.into()
            }]
        );
    }
    let not = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"});
    assert_eq!(irsa(&doc(vec![not])).len(), 1);
    // Our provider next to another one in the same statement.
    let mut both = s.statement();
    both["Principal"]["Federated"] = json!([s.provider_arn, "arn:aws:iam::1:saml-provider/corp"]);
    assert_eq!(
        risks(&irsa(&doc(vec![both]))),
        ["lets another identity provider arn:aws:iam::1:saml-provider/corp assume it"]
    );
}

#[test]
fn actions_beyond_web_identity_are_findings() {
    let s = subject();
    for (action, risk) in [
        (
            json!("sts:*"),
            "allows sts:* as well as sts:AssumeRoleWithWebIdentity to the cluster's ServiceAccounts",
        ),
        (
            json!("*"),
            "allows * as well as sts:AssumeRoleWithWebIdentity to the cluster's ServiceAccounts",
        ),
        (
            json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]),
            "allows sts:TagSession as well as sts:AssumeRoleWithWebIdentity to the cluster's ServiceAccounts",
        ),
        (
            json!("sts:AssumeRole"),
            "allows sts:AssumeRole instead of sts:AssumeRoleWithWebIdentity to the cluster's ServiceAccounts",
        ),
    ] {
        let mut st = s.statement();
        st["Action"] = action;
        assert_eq!(risks(&irsa(&doc(vec![st]))), [risk]);
    }
    let mut not = s.statement();
    not.as_object_mut().map(|m| m.remove("Action"));
    not["NotAction"] = json!("iam:*");
    assert_eq!(
        risks(&irsa(&doc(vec![not]))),
        ["allows every action but NotAction [iam:*] to the cluster's ServiceAccounts"]
    );
}

#[test]
fn odd_trust_documents_do_not_panic() {
    let s = subject();
    let (sub, aud) = (
        format!("{}:sub", s.host_path),
        format!("{}:aud", s.host_path),
    );
    for odd in [
        json!(null),
        json!({"Statement": "x"}),
        json!({"Statement": [null, 3, {"Effect": "Allow"}]}),
        with_condition(json!("x")),
        with_condition(json!({"StringEquals": "x"})),
        with_condition(json!({"StringEquals": {sub.clone(): {"a": 1}, aud.clone(): [[1]]}})),
        with_condition(json!({"StringEquals": {sub.clone(): [], aud.clone(): 5}})),
        with_condition(json!({"ForAnyValue:StringLike": {sub.clone(): ["*"]}})),
        doc(vec![
            json!({"Effect": "Allow", "Principal": 5, "Action": "sts:AssumeRole"}),
        ]),
        doc(vec![
            json!({"Effect": "Allow", "Principal": {"AWS": {"x": 1}}}),
        ]),
    ] {
        let _ = irsa_trust_findings(&odd, &s);
        let _ = fargate_trust_findings(&odd, SRC);
        let _ = s.add_to(&odd);
        let _ = s.remove_from(&odd);
    }
    // Unreadable principals are reported, not skipped.
    let five = doc(vec![
        json!({"Effect": "Allow", "Principal": 5, "Action": "sts:AssumeRole"}),
    ]);
    assert_eq!(irsa(&five).len(), 1);
}

#[test]
fn fargate_findings_skip_fargate_and_name_everyone_else() {
    assert!(fargate_trust_findings(&fargate_trust_policy(SRC), SRC).is_empty());
    // Another cluster's or no SourceArn: fargate_trust's business, not a finding.
    let other = fargate_trust_policy("arn:aws:eks:us-east-1:111122223333:fargateprofile/other/*");
    assert!(fargate_trust_findings(&other, SRC).is_empty());
    let bare = json!({"Statement": {"Effect": "Allow", "Principal": {"Service": FARGATE_SERVICE}, "Action": "sts:AssumeRole"}});
    assert!(fargate_trust_findings(&bare, SRC).is_empty());
    let ec2_too = json!({"Statement": [{"Effect": "Allow",
        "Principal": {"Service": [FARGATE_SERVICE, "ec2.amazonaws.com"]}, "Action": "sts:AssumeRole"}]});
    assert_eq!(
        fargate_trust_findings(&ec2_too, SRC),
        [TrustFinding {
            statement: "statement #1".into(),
            risk: "lets service ec2.amazonaws.com assume it".into()
        }]
    );
    let wide = doc(vec![
        fargate_statement(SRC),
        json!({"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sts:AssumeRole"}),
        json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
        json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}),
    ]);
    assert_eq!(
        fargate_trust_findings(&wide, SRC),
        [
            TrustFinding {
                statement: "statement #2".into(),
                risk: "lets AWS account 444455556666 assume it".into()
            },
            TrustFinding {
                statement: "statement #3".into(),
                risk: "lets anyone assume it (Principal \"*\")".into()
            },
        ]
    );
}

#[test]
fn findings_serialize_for_json_output() {
    let f = TrustFinding {
        statement: "Sid \"x\"".into(),
        risk: "lets service ec2.amazonaws.com assume it".into(),
    };
    assert_eq!(
        serde_json::to_value(&f).unwrap(),
        json!({"statement": "Sid \"x\"", "risk": "lets service ec2.amazonaws.com assume it"})
    );
}

// ---------------------------------------------------------------------------
// EKS Pod Identity trust

const CLUSTER: &str = "arn:aws:eks:us-east-1:111122223333:cluster/demo";
const OTHER_CLUSTER: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/other";
const THIRD_CLUSTER: &str = "arn:aws:eks:us-west-2:111122223333:cluster/third";
const PI_CLUSTER_ARN: &str = "aws:RequestTag/eks-cluster-arn";
const PI_NAMESPACE: &str = "aws:RequestTag/kubernetes-namespace";
const PI_SA: &str = "aws:RequestTag/kubernetes-service-account";
const SA: &str = "amp-iamproxy-ingest-service-account";

/// The IRSA `subject()`'s ServiceAccount, through Pod Identity.
fn pi() -> PodIdentitySubject {
    PodIdentitySubject {
        account: "111122223333".into(),
        cluster_arn: CLUSTER.into(),
        namespace: "prometheus".into(),
        service_account: SA.into(),
    }
}

fn pi_on(cluster: &str) -> PodIdentitySubject {
    PodIdentitySubject {
        cluster_arn: cluster.into(),
        ..pi()
    }
}

fn pi_findings(doc: &Value) -> Vec<TrustFinding> {
    pod_identity_trust_findings(doc, &pi())
}

/// Our statement with another condition.
fn pi_statement_with(condition: Value) -> Value {
    let mut st = pi().statement();
    st["Condition"] = condition;
    st
}

/// What the AWS console writes: no condition at all.
fn pi_bare() -> Value {
    json!({"Effect": "Allow", "Principal": {"Service": POD_IDENTITY_SERVICE},
        "Action": ["sts:AssumeRole", "sts:TagSession"]})
}

fn clusters_of(st: &Value) -> Value {
    st["Condition"]["StringEquals"][PI_CLUSTER_ARN].clone()
}

#[test]
fn pod_identity_statement_is_the_documented_recipe() {
    let s = pi();
    assert_eq!(POD_IDENTITY_SERVICE, "pods.eks.amazonaws.com");
    assert_eq!(
        s.statement(),
        json!({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {
                "aws:SourceAccount": "111122223333",
                "aws:RequestTag/eks-cluster-arn": CLUSTER,
                "aws:RequestTag/kubernetes-namespace": "prometheus",
                "aws:RequestTag/kubernetes-service-account": SA}}})
    );
    let doc = s.trust_policy();
    assert_eq!(doc["Version"], VERSION);
    assert_eq!(statements(&doc), vec![&s.statement()]);
    assert_eq!(s.state(&doc), PodIdentityTrust::Trusted);
    assert!(!minify(&doc).contains(' '), "sent minified");
}

#[test]
fn pod_identity_state_reads_any_spelling_of_a_trusting_statement() {
    let s = pi();
    let trusted = |st: Value| s.state(&doc(vec![st])) == PodIdentityTrust::Trusted;
    // Lists (of one, or with others), keys in other cases, a Sid.
    let listed = json!({"Sid": "pi", "Effect": "Allow",
        "Principal": {"Service": [POD_IDENTITY_SERVICE]},
        "Action": ["STS:AssumeRole", "sts:tagsession"],
        "Condition": {"StringEquals": {
            "aws:sourceaccount": ["111122223333"],
            "aws:RequestTag/eks-cluster-arn": [OTHER_CLUSTER, CLUSTER],
            "AWS:RequestTag/Kubernetes-Namespace": ["prometheus", "apps"],
            "aws:RequestTag/kubernetes-service-account": SA}}});
    assert!(trusted(listed.clone()));
    // `Statement` an object rather than a list.
    assert_eq!(
        s.state(&json!({"Statement": listed})),
        PodIdentityTrust::Trusted
    );
    for action in [
        json!("sts:*"),
        json!("*"),
        json!(["sts:AssumeRole", "sts:Tag*"]),
        json!(["sts:*", "sts:TagSession"]),
    ] {
        let mut st = s.statement();
        st["Action"] = action.clone();
        assert!(trusted(st), "{action}");
    }
    // Wider statements trust us too; the findings say how wide.
    assert!(trusted(pi_bare()));
    assert!(trusted(pi_statement_with(json!({})))); // an empty condition
    assert!(trusted(pi_statement_with(
        json!({"StringEquals": {PI_NAMESPACE: ["prometheus"], PI_SA: [SA]}})
    )));
    // Every operator the tool evaluates, each letting us through.
    assert!(trusted(pi_statement_with(json!({
        "StringLike": {PI_NAMESPACE: "prom*", PI_CLUSTER_ARN: "arn:aws:eks:*:111122223333:cluster/*"},
        "StringEqualsIgnoreCase": {PI_SA: "AMP-iamproxy-ingest-service-account"},
        "StringNotEquals": {PI_NAMESPACE: "kube-system"},
        "StringEqualsIfExists": {"aws:RequestTag/eks-cluster-name": "demo"},
        "ArnLike": {PI_CLUSTER_ARN: "arn:aws:eks:us-east-1:*"},
        "Null": {PI_NAMESPACE: "false"}}))));
}

#[test]
fn pod_identity_state_misses_other_subjects_and_unreadable_statements() {
    let s = pi();
    let state = |st: Value| s.state(&doc(vec![st]));
    let missing = PodIdentityTrust::Missing;
    let change = |f: fn(&mut PodIdentitySubject)| {
        let mut other = pi();
        f(&mut other);
        other.statement()
    };
    assert_eq!(state(change(|o| o.namespace = "apps".into())), missing);
    assert_eq!(state(change(|o| o.service_account = "x".into())), missing);
    assert_eq!(
        state(change(|o| o.account = "444455556666".into())),
        missing
    );
    type Change = Box<dyn Fn(&mut Value)>;
    let variants: Vec<(&str, Change)> = vec![
        ("deny", Box::new(|st| st["Effect"] = json!("Deny"))),
        // EKS tags every session: AssumeRole alone fails.
        (
            "no TagSession",
            Box::new(|st| st["Action"] = json!("sts:AssumeRole")),
        ),
        (
            "web identity",
            Box::new(|st| st["Action"] = json!("sts:AssumeRoleWithWebIdentity")),
        ),
        (
            "NotAction",
            Box::new(|st| {
                st.as_object_mut().map(|m| m.remove("Action"));
                st["NotAction"] = json!("iam:*");
            }),
        ),
        (
            "another service",
            Box::new(|st| st["Principal"] = json!({"Service": "ec2.amazonaws.com"})),
        ),
        ("Principal *", Box::new(|st| st["Principal"] = json!("*"))),
    ];
    for (what, change) in variants {
        let mut st = s.statement();
        change(&mut st);
        assert_eq!(state(st), missing, "{what}");
    }
    // A condition the tool cannot evaluate shuts us out rather than lets us in.
    for condition in [
        json!("x"),
        json!({"StringEquals": "x"}),
        json!({"StringEquals": {"aws:RequestTag/kubernetes-pod-name": "p"}}),
        json!({"StringEquals": {"aws:SourceArn": CLUSTER}}),
        json!({"ForAnyValue:StringEquals": {PI_NAMESPACE: "prometheus"}}),
        json!({"StringEquals": {PI_NAMESPACE: {"a": 1}}}),
        json!({"StringEquals": {PI_NAMESPACE: []}}),
        json!({"Null": {PI_NAMESPACE: "true"}}),
        json!({"StringNotLike": {PI_NAMESPACE: "prom*"}}),
    ] {
        assert_eq!(
            state(pi_statement_with(condition.clone())),
            missing,
            "{condition}"
        );
    }
    // IRSA trust is no Pod Identity trust.
    assert_eq!(s.state(&subject().trust_policy()), missing);
    assert_eq!(s.state(&json!(null)), missing);
}

#[test]
fn the_recipe_for_another_cluster_can_take_ours() {
    let s = pi();
    let other = pi_on(OTHER_CLUSTER);
    let ec2 = json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
    let two = doc(vec![ec2, other.statement()]);
    assert_eq!(s.state(&two), PodIdentityTrust::OtherCluster { index: 1 });
    // A Sid, a list of clusters, one-element lists, keys in other cases.
    let listed = json!({"Sid": "shared", "Effect": "Allow",
        "Principal": {"Service": [POD_IDENTITY_SERVICE]},
        "Action": ["sts:TagSession", "STS:AssumeRole"],
        "Condition": {"StringEquals": {
            "AWS:SourceAccount": ["111122223333"],
            "aws:requesttag/eks-cluster-arn": [OTHER_CLUSTER, THIRD_CLUSTER],
            PI_NAMESPACE: ["prometheus"], PI_SA: SA}}});
    assert_eq!(
        s.state(&doc(vec![listed])),
        PodIdentityTrust::OtherCluster { index: 0 }
    );
    // Anything beyond the exact shape is left alone.
    type Change = Box<dyn Fn(&mut Value)>;
    let variants: Vec<(&str, Change)> = vec![
        (
            "no SourceAccount",
            Box::new(|st| {
                if let Some(eq) = st["Condition"]["StringEquals"].as_object_mut() {
                    eq.remove("aws:SourceAccount");
                }
            }),
        ),
        (
            "another namespace too",
            Box::new(|st| {
                st["Condition"]["StringEquals"][PI_NAMESPACE] = json!(["prometheus", "apps"])
            }),
        ),
        (
            "an extra key",
            Box::new(|st| {
                st["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-pod-name"] = json!("p")
            }),
        ),
        (
            "an extra operator",
            Box::new(|st| st["Condition"]["StringLike"] = json!({"x": "y*"})),
        ),
        ("sts:*", Box::new(|st| st["Action"] = json!("sts:*"))),
        (
            "a third action",
            Box::new(|st| {
                st["Action"] = json!(["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"])
            }),
        ),
        (
            "another principal too",
            Box::new(|st| st["Principal"]["AWS"] = json!("444455556666")),
        ),
        (
            "a NotAction",
            Box::new(|st| st["NotAction"] = json!("iam:*")),
        ),
        (
            "a non-string cluster",
            Box::new(|st| {
                st["Condition"]["StringEquals"][PI_CLUSTER_ARN] = json!([OTHER_CLUSTER, 1])
            }),
        ),
        (
            "no cluster",
            Box::new(|st| st["Condition"]["StringEquals"][PI_CLUSTER_ARN] = json!([])),
        ),
    ];
    for (what, change) in variants {
        let mut st = other.statement();
        change(&mut st);
        assert_eq!(s.state(&doc(vec![st])), PodIdentityTrust::Missing, "{what}");
    }
}

#[test]
fn adding_pod_identity_to_a_fresh_trust_writes_the_recipe() {
    let s = pi();
    for fresh in [
        json!({}),
        json!(null),
        doc(vec![]),
        json!({"Version": "2012-10-17"}),
    ] {
        assert_eq!(s.add_to(&fresh), s.trust_policy(), "{fresh}");
    }
}

#[test]
fn adding_pod_identity_to_an_irsa_trust_keeps_irsa() {
    let (irsa_s, s) = (subject(), pi());
    let irsa_only = irsa_s.trust_policy();
    let out = s.add_to(&irsa_only);
    assert_eq!(statements(&out), vec![&irsa_s.statement(), &s.statement()]);
    assert_eq!(irsa_s.state(&out), TrustState::Trusted);
    assert_eq!(s.state(&out), PodIdentityTrust::Trusted);
    // And the other way round: IRSA does not compact into a Pod Identity statement.
    let back = irsa_s.add_to(&s.trust_policy());
    assert_eq!(statements(&back), vec![&s.statement(), &irsa_s.statement()]);
}

#[test]
fn adding_a_cluster_grows_the_recipe_list_in_order() {
    let s = pi();
    let other = pi_on(OTHER_CLUSTER);
    let mut recipe = other.statement();
    recipe["Sid"] = json!("shared");
    let single = doc(vec![recipe]);
    let out = s.add_to(&single);
    let sts = statements(&out);
    assert_eq!(sts.len(), 1);
    assert_eq!(sts[0]["Sid"], "shared");
    assert_eq!(clusters_of(sts[0]), json!([OTHER_CLUSTER, CLUSTER]));
    assert_eq!(s.state(&out), PodIdentityTrust::Trusted);
    assert_eq!(other.state(&out), PodIdentityTrust::Trusted);
    let appended = with_statements(&single, vec![statements(&single)[0].clone(), s.statement()]);
    assert!(compact_size(&out) < compact_size(&appended));
    // A list grows at its end.
    let third = pi_on(THIRD_CLUSTER);
    let out = third.add_to(&out);
    assert_eq!(
        clusters_of(statements(&out)[0]),
        json!([OTHER_CLUSTER, CLUSTER, THIRD_CLUSTER])
    );
    // Under the key's own spelling.
    let mut odd = other.statement();
    if let Some(eq) = odd["Condition"]["StringEquals"].as_object_mut() {
        eq.remove(PI_CLUSTER_ARN);
        eq.insert(
            "AWS:RequestTag/EKS-Cluster-Arn".into(),
            json!(OTHER_CLUSTER),
        );
    }
    let out = s.add_to(&doc(vec![odd]));
    assert_eq!(
        out["Statement"][0]["Condition"]["StringEquals"]["AWS:RequestTag/EKS-Cluster-Arn"],
        json!([OTHER_CLUSTER, CLUSTER])
    );
    assert_eq!(statements(&out).len(), 1);
}

#[test]
fn adding_pod_identity_twice_changes_nothing_more() {
    let s = pi();
    for before in [
        doc(vec![]),
        subject().trust_policy(),
        pi_on(OTHER_CLUSTER).trust_policy(),
        s.trust_policy(),
        doc(vec![pi_bare()]),
    ] {
        let once = s.add_to(&before);
        assert_eq!(s.add_to(&once), once, "{before}");
    }
    assert_eq!(s.add_to(&s.trust_policy()), s.trust_policy());
    // Trusted, if more widely: add_to leaves it, the findings report it.
    let wide = doc(vec![pi_bare()]);
    assert_eq!(s.add_to(&wide), wide);
}

#[test]
fn removing_pod_identity_undoes_adding_it() {
    let s = pi();
    let (other, third) = (pi_on(OTHER_CLUSTER), pi_on(THIRD_CLUSTER));
    let ec2 = json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
    for before in [
        doc(vec![]),
        subject().trust_policy(),
        doc(vec![ec2.clone(), other.statement()]),
        third.add_to(&other.trust_policy()),
    ] {
        let added = s.add_to(&before);
        assert_ne!(added, before);
        assert_eq!(s.remove_from(&added), before, "{before}");
    }
    // From the middle of a list: the others keep their order.
    let three = third.add_to(&s.add_to(&other.trust_policy()));
    assert_eq!(
        clusters_of(statements(&three)[0]),
        json!([OTHER_CLUSTER, CLUSTER, THIRD_CLUSTER])
    );
    let out = s.remove_from(&three);
    assert_eq!(
        clusters_of(statements(&out)[0]),
        json!([OTHER_CLUSTER, THIRD_CLUSTER])
    );
    // One left is a string again; none left, no statement.
    assert_eq!(
        clusters_of(statements(&third.remove_from(&out))[0]),
        OTHER_CLUSTER
    );
    let none = other.remove_from(&third.remove_from(&out));
    assert!(statements(&none).is_empty());
    // Ours alone, in any spelling, goes.
    let mut listed = s.statement();
    listed["Condition"]["StringEquals"][PI_CLUSTER_ARN] = json!([CLUSTER]);
    listed["Condition"]["StringEquals"][PI_NAMESPACE] = json!(["prometheus"]);
    assert!(statements(&s.remove_from(&doc(vec![listed, ec2.clone()]))) == vec![&ec2]);
    // What also trusts someone else stays whole.
    let mut shared_ns = s.statement();
    shared_ns["Condition"]["StringEquals"][PI_NAMESPACE] = json!(["prometheus", "apps"]);
    let mut with_aws = s.statement();
    with_aws["Principal"]["AWS"] = json!("444455556666");
    for kept in [
        pi_bare(),
        pi_statement_with(json!({"StringEquals": {PI_NAMESPACE: "prometheus", PI_SA: SA}})),
        shared_ns,
        with_aws,
        other.statement(),
        subject().statement(),
        ec2,
    ] {
        let d = doc(vec![kept]);
        assert_eq!(s.remove_from(&d), d);
    }
}

#[test]
fn the_pod_identity_recipe_has_no_findings_in_any_spelling() {
    let s = pi();
    assert!(pi_findings(&s.trust_policy()).is_empty());
    // No SourceAccount: an association can only name a role of its own
    // account, and the cluster ARN names that account anyway.
    let odd = json!({"Statement": {"Sid": "x", "Effect": "Allow",
        "Principal": {"Service": [POD_IDENTITY_SERVICE]},
        "Action": ["STS:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:RequestTag/EKS-Cluster-ARN": [CLUSTER],
            PI_NAMESPACE: ["prometheus"], PI_SA: SA}}}});
    assert!(pi_findings(&odd).is_empty(), "{:?}", pi_findings(&odd));
    // Denies narrow; they are not findings.
    let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "sts:*"});
    assert!(pi_findings(&doc(vec![s.statement(), deny])).is_empty());
    // Exact StringLike values, and conditions the tool does not read next
    // to pinned keys, only narrow.
    assert!(
        pi_findings(&doc(vec![pi_statement_with(json!({
            "StringLike": {PI_CLUSTER_ARN: CLUSTER, PI_NAMESPACE: "prometheus", PI_SA: SA},
            "StringNotEquals": {"aws:RequestTag/kubernetes-pod-name": "debug"}}))]))
        .is_empty()
    );
    // A statement ruling our account out lets nobody in.
    let elsewhere =
        pi_statement_with(json!({"StringEquals": {"aws:SourceAccount": "444455556666"}}));
    assert!(pi_findings(&doc(vec![elsewhere])).is_empty());
}

#[test]
fn unconditioned_pod_identity_lets_the_whole_account_in() {
    assert_eq!(
        pi_findings(&doc(vec![pi_bare()])),
        [TrustFinding {
            statement: "statement #1".into(),
            risk: "lets any Pod Identity association of account 111122223333 assume it".into()
        }]
    );
    let account_only =
        pi_statement_with(json!({"StringEquals": {"aws:SourceAccount": "111122223333"}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![account_only]))),
        ["lets any Pod Identity association of account 111122223333 assume it"]
    );
    // The AWS guide's example: namespace and ServiceAccount, any cluster.
    let guide =
        pi_statement_with(json!({"StringEquals": {PI_NAMESPACE: ["prometheus"], PI_SA: [SA]}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![guide]))),
        [
            "has no cluster ARN condition: Pod Identity associations of any cluster of account 111122223333 can assume it"
        ]
    );
    let cluster_only = pi_statement_with(json!({"StringEquals": {PI_CLUSTER_ARN: CLUSTER}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![cluster_only]))),
        [
            "has no namespace condition: Pod Identity associations in any namespace can assume it",
            "has no ServiceAccount condition: Pod Identity associations of any ServiceAccount can assume it"
        ]
    );
    // A cluster name is unique in its region only.
    let by_name = pi_statement_with(json!({"StringEquals": {
        "aws:RequestTag/eks-cluster-name": "demo", PI_NAMESPACE: "prometheus", PI_SA: SA}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![by_name]))),
        [
            "names the cluster only by eks-cluster-name: Pod Identity associations of clusters named demo in other regions of account 111122223333 can assume it"
        ]
    );
}

#[test]
fn other_namespaces_service_accounts_and_clusters_are_named() {
    let s = pi();
    let shared = pi_statement_with(json!({"StringEquals": {
        "aws:SourceAccount": "111122223333",
        PI_CLUSTER_ARN: [CLUSTER, OTHER_CLUSTER],
        PI_NAMESPACE: ["prometheus", "apps", "monitoring"],
        PI_SA: [SA, "other-sa"]}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![shared]))),
        [
            "lets Pod Identity associations of other clusters assume it (arn:aws:eks:eu-west-1:111122223333:cluster/other)",
            "lets Pod Identity associations in other namespaces assume it (apps, monitoring)",
            "lets Pod Identity associations of other ServiceAccounts assume it (other-sa)"
        ]
    );
    // A statement for another namespace only.
    let apps = PodIdentitySubject {
        namespace: "apps".into(),
        ..pi()
    };
    assert_eq!(
        pi_findings(&doc(vec![s.statement(), apps.statement()])),
        [TrustFinding {
            statement: "statement #2".into(),
            risk: "lets Pod Identity associations in other namespaces assume it (apps)".into()
        }]
    );
    // A role reused across clusters is wider than this one cluster.
    let reused = s.add_to(&pi_on(OTHER_CLUSTER).trust_policy());
    assert_eq!(
        risks(&pi_findings(&reused)),
        [
            "lets Pod Identity associations of other clusters assume it (arn:aws:eks:eu-west-1:111122223333:cluster/other)"
        ]
    );
    let names = pi_statement_with(json!({"StringEquals": {
        "aws:RequestTag/eks-cluster-name": ["demo", "other"], PI_NAMESPACE: "prometheus", PI_SA: SA}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![names]))),
        ["lets Pod Identity associations of other clusters assume it (other)"]
    );
}

#[test]
fn pod_identity_wildcards_unreadable_and_if_exists_conditions_are_findings() {
    let pinned = |extra: Value| {
        let mut eq = json!({PI_CLUSTER_ARN: CLUSTER, PI_NAMESPACE: "prometheus", PI_SA: SA});
        let mut cond = json!({});
        if let (Some(eq), Some(extra)) = (eq.as_object_mut(), extra.as_object()) {
            for (op, keys) in extra {
                // An operator on a pinned key takes that key over.
                if op == "StringEquals" {
                    eq.extend(keys.as_object().cloned().unwrap_or_default());
                } else {
                    for k in keys.as_object().map(|k| k.keys()).into_iter().flatten() {
                        eq.remove(k);
                    }
                    cond[op] = keys.clone();
                }
            }
        }
        cond["StringEquals"] = eq;
        pi_findings(&doc(vec![pi_statement_with(cond)]))
    };
    assert_eq!(
        risks(&pinned(json!({"StringLike": {PI_NAMESPACE: "*"}}))),
        ["lets Pod Identity associations in any namespace assume it (StringLike namespace *)"]
    );
    assert_eq!(
        risks(&pinned(json!({"StringLike": {PI_SA: ["amp-*"]}}))),
        [
            "lets Pod Identity associations of other ServiceAccounts assume it (StringLike ServiceAccount amp-*)"
        ]
    );
    assert_eq!(
        risks(&pinned(
            json!({"StringLike": {PI_CLUSTER_ARN: "arn:aws:eks:*:111122223333:cluster/*"}})
        )),
        [
            "lets Pod Identity associations of other clusters assume it (StringLike cluster ARN arn:aws:eks:*:111122223333:cluster/*)"
        ]
    );
    assert_eq!(
        risks(&pinned(
            json!({"StringNotEquals": {PI_NAMESPACE: "kube-system"}})
        )),
        [
            "limits the namespace only with StringNotEquals, which the tool does not read: Pod Identity associations in other namespaces may assume it"
        ]
    );
    // With session tags disabled EKS sends none, and IfExists lets that through.
    let if_exists = pi_statement_with(json!({"StringEqualsIfExists": {
        PI_CLUSTER_ARN: CLUSTER, PI_NAMESPACE: "prometheus", PI_SA: SA}}));
    assert_eq!(
        risks(&pi_findings(&doc(vec![if_exists]))),
        [
            "conditions the session tags only with StringEqualsIfExists: a Pod Identity association with session tags disabled passes unchecked"
        ]
    );
    // One plain condition on a tag demands the tags.
    let mixed = pi_statement_with(json!({"StringEquals": {PI_CLUSTER_ARN: CLUSTER},
        "StringEqualsIfExists": {PI_NAMESPACE: "prometheus", PI_SA: SA}}));
    assert!(pi_findings(&doc(vec![mixed])).is_empty());
}

#[test]
fn pod_identity_findings_name_other_principals_and_actions() {
    let s = pi();
    let st = |principal: Value| json!({"Sid": "Extra", "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
    for (principal, risk) in [
        (
            json!({"AWS": "444455556666"}),
            "lets AWS account 444455556666 assume it",
        ),
        (json!("*"), "lets anyone assume it (Principal \"*\")"),
        (
            json!({"Service": "ec2.amazonaws.com"}),
            "lets service ec2.amazonaws.com assume it",
        ),
        (
            json!({"Service": FARGATE_SERVICE}),
            "lets service eks-fargate-pods.amazonaws.com assume it",
        ),
        // An OIDC provider of this account, but not an EKS cluster's.
        (
            json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
            "lets another identity provider arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com assume it",
        ),
    ] {
        assert_eq!(
            pi_findings(&doc(vec![s.statement(), st(principal)])),
            [TrustFinding {
                statement: "Sid \"Extra\"".into(),
                risk: risk.into()
            }]
        );
    }
    let not = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"});
    assert_eq!(pi_findings(&doc(vec![not])).len(), 1);
    let mut with_ec2 = s.statement();
    with_ec2["Principal"]["Service"] = json!([POD_IDENTITY_SERVICE, "ec2.amazonaws.com"]);
    assert_eq!(
        risks(&pi_findings(&doc(vec![with_ec2]))),
        ["lets service ec2.amazonaws.com assume it"]
    );
    for (action, risk) in [
        (
            json!("sts:*"),
            "allows sts:* as well as sts:AssumeRole and sts:TagSession to Pod Identity associations",
        ),
        (
            json!(["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]),
            "allows sts:SetSourceIdentity as well as sts:AssumeRole and sts:TagSession to Pod Identity associations",
        ),
    ] {
        let mut st = s.statement();
        st["Action"] = action;
        assert_eq!(risks(&pi_findings(&doc(vec![st]))), [risk]);
    }
    let mut not_action = s.statement();
    not_action.as_object_mut().map(|m| m.remove("Action"));
    not_action["NotAction"] = json!("iam:*");
    assert_eq!(
        risks(&pi_findings(&doc(vec![not_action]))),
        ["allows every action but NotAction [iam:*] to Pod Identity associations"]
    );
}

#[test]
fn irsa_and_pod_identity_trust_coexist_during_a_migration() {
    let (irsa_s, s) = (subject(), pi());
    let both = doc(vec![irsa_s.statement(), s.statement()]);
    assert!(pod_identity_trust_findings(&both, &s).is_empty());
    assert!(irsa_trust_findings_allowing(&both, &irsa_s, Some(&s)).is_empty());
    // Callers that allow nothing see another service, as before.
    assert_eq!(
        irsa_trust_findings(&both, &irsa_s),
        [TrustFinding {
            statement: "statement #2".into(),
            risk: "lets service pods.eks.amazonaws.com assume it".into()
        }]
    );
    assert_eq!(
        irsa_trust_findings_allowing(&both, &irsa_s, None),
        irsa_trust_findings(&both, &irsa_s)
    );
    // The allowance is for the IRSA subject's own ServiceAccount only.
    let apps = PodIdentitySubject {
        namespace: "apps".into(),
        ..pi()
    };
    let other_sa = doc(vec![irsa_s.statement(), apps.statement()]);
    assert_eq!(
        risks(&irsa_trust_findings_allowing(
            &other_sa,
            &irsa_s,
            Some(&apps)
        )),
        ["lets service pods.eks.amazonaws.com assume it"]
    );
    // A wider Pod Identity statement is named in IRSA mode too.
    let bare = doc(vec![irsa_s.statement(), pi_bare()]);
    assert_eq!(
        risks(&irsa_trust_findings_allowing(&bare, &irsa_s, Some(&s))),
        ["lets any Pod Identity association of account 111122223333 assume it"]
    );
    // IRSA through any EKS OIDC provider of the account is fine in Pod Identity mode.
    let eu = IrsaSubject {
        provider_arn:
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/XYZ".into(),
        host_path: "oidc.eks.eu-west-1.amazonaws.com/id/XYZ".into(),
        ..subject()
    };
    let three = doc(vec![s.statement(), irsa_s.statement(), eu.statement()]);
    assert!(pod_identity_trust_findings(&three, &s).is_empty());
    // But not one without aud, for other ServiceAccounts, or of another account.
    let no_aud = statements(&guide_trust(&irsa_s))[0].clone();
    assert_eq!(
        risks(&pi_findings(&doc(vec![s.statement(), no_aud]))),
        ["trusts prometheus/amp-iamproxy-ingest-service-account without the aud condition"]
    );
    assert_eq!(
        risks(&pi_findings(&doc(vec![other_subject("a").statement()]))),
        ["lets other ServiceAccounts of the cluster assume it (apps/a)"]
    );
    let foreign = IrsaSubject {
        provider_arn:
            "arn:aws:iam::444455556666:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC".into(),
        ..subject()
    };
    assert_eq!(
        risks(&pi_findings(&doc(vec![foreign.statement()]))),
        [
            "lets another identity provider arn:aws:iam::444455556666:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC assume it"
        ]
    );
}

#[test]
fn pod_identity_functions_are_total_on_odd_documents() {
    let irsa_s = subject();
    let odd_subject = PodIdentitySubject {
        account: String::new(),
        cluster_arn: "not-an-arn".into(),
        namespace: "*".into(),
        service_account: String::new(),
    };
    let with = |key: &str, v: Value| {
        let mut st = pi().statement();
        st[key] = v;
        doc(vec![st])
    };
    for odd in [
        json!(null),
        json!("text"),
        json!([1, 2]),
        json!({"Statement": 7}),
        json!({"Statement": "x"}),
        json!({"Statement": [null, 3, "x", {"Effect": "Allow"}]}),
        with("Condition", json!("x")),
        with("Condition", json!({"StringEquals": "x"})),
        with(
            "Condition",
            json!({"StringEquals": {PI_NAMESPACE: {"a": 1}, PI_CLUSTER_ARN: [[1]]}}),
        ),
        with(
            "Condition",
            json!({"StringEquals": {PI_CLUSTER_ARN: [], PI_NAMESPACE: 5, PI_SA: null}}),
        ),
        with(
            "Condition",
            json!({"StringEquals": {PI_CLUSTER_ARN: [1, CLUSTER], PI_NAMESPACE: "prometheus", PI_SA: SA}}),
        ),
        with(
            "Condition",
            json!({"ForAnyValue:StringLike": {PI_NAMESPACE: ["*"]}}),
        ),
        with("Principal", json!(5)),
        with("Principal", json!({"Service": {"x": 1}})),
        with("Principal", json!({"Service": [1, POD_IDENTITY_SERVICE]})),
        with("Action", json!(5)),
        with("NotAction", json!({"a": 1})),
    ] {
        for s in [pi(), odd_subject.clone()] {
            let _ = s.state(&odd);
            let _ = s.remove_from(&odd);
            let _ = pod_identity_trust_findings(&odd, &s);
            let _ = irsa_trust_findings_allowing(&odd, &irsa_s, Some(&s));
            let added = s.add_to(&odd);
            assert_eq!(s.state(&added), PodIdentityTrust::Trusted, "{odd}");
            let _ = s.remove_from(&added);
        }
    }
}
