//! The fleet's inputs: which flags make a fleet, and how a bootstrap file's
//! entries override the command line's run.

use super::*;
use crate::aws::Tags;
use crate::cli::{Cli, Command};
use crate::recipe::Kind;
use clap::Parser;

/// The base run and fleet flags of `kubectl amp-iam ARGS`, as `run` builds them.
fn parsed(args: &[&str]) -> (GlobalArgs, FleetArgs, ClusterSpec) {
    let cli = Cli::try_parse_from(std::iter::once("kubectl-amp_iam").chain(args.iter().copied()))
        .expect("parses");
    let (fleet, selection, mode) = match cli.command {
        Command::Setup(a) => (a.fleet, a.selection, Mode::Setup { dry_run: a.dry_run }),
        Command::Teardown(a) => (a.fleet, a.selection, Mode::Teardown { dry_run: a.dry_run }),
        Command::Status(a) => (a.fleet, a.selection, Mode::Status),
        _ => panic!("setup, teardown or status"),
    };
    let g = cli.global;
    let base = ClusterSpec {
        origin: None,
        context_chosen: false,
        target: crate::run::fleet_target_args(&g),
        profile: g.profile.clone(),
        selection,
        options: crate::recipe::Options::default(),
        workspace: None,
        mode,
    };
    (g, fleet, base)
}

fn entry(f: impl FnOnce(&mut file::FleetEntry)) -> file::FleetEntry {
    let mut e = file::FleetEntry {
        origin: "fleet.yaml clusters[0]".into(),
        context: Some("prod".into()),
        ..file::FleetEntry::default()
    };
    f(&mut e);
    e
}

#[test]
fn one_context_is_not_a_fleet_two_are() {
    let (g, f, _) = parsed(&["setup", "--context", "a"]);
    assert!(!is_fleet(&g, &f));
    let (g, f, base) = parsed(&["status", "--context", "a", "--context", "b", "-n", "mon"]);
    assert!(is_fleet(&g, &f));
    let fleet = specs(&g, &f, &base, None).unwrap();
    let contexts: Vec<_> = fleet.iter().map(|s| s.target.context.clone()).collect();
    assert_eq!(contexts, [Some("a".to_string()), Some("b".to_string())]);
    assert!(
        fleet
            .iter()
            .all(|s| s.target.namespace.as_deref() == Some("mon"))
    );
    assert_eq!(fleet[1].origin.as_deref(), Some("--context b"));
}

#[test]
fn a_fleet_refuses_cluster_and_mixed_ways_of_naming_clusters() {
    let (g, f, base) = parsed(&[
        "setup",
        "--context",
        "a",
        "--context",
        "b",
        "--cluster",
        "x",
    ]);
    let err = specs(&g, &f, &base, None).unwrap_err().to_string();
    assert!(err.contains("--cluster names one cluster"), "{err}");
    let (g, f, base) = parsed(&["setup", "--context", "a", "-f", "fleet.yaml"]);
    let err = specs(&g, &f, &base, None).unwrap_err().to_string();
    assert!(err.contains("give the clusters one way"), "{err}");
}

#[test]
fn an_entry_overrides_the_command_line_key_by_key_and_merges_tags() {
    let (_, _, mut base) = parsed(&[
        "setup",
        "ingest",
        "query",
        "-n",
        "prometheus",
        "--role-name",
        "amp-{cluster}-{kind}",
    ]);
    base.options.tags = Tags::from([("team".to_string(), "obs".to_string())]);
    let e = entry(|e| {
        e.namespace = Some("metrics".into());
        e.kinds = vec![Kind::Ingest];
        e.profile = Some("prod".into());
        e.tags = vec![("cost".into(), "42".into()), ("team".into(), "sre".into())];
        e.restart = Some(true);
    });
    let spec = spec_for_entry(&base, &e).unwrap();
    assert_eq!(spec.target.context.as_deref(), Some("prod"));
    assert_eq!(spec.target.namespace.as_deref(), Some("metrics"));
    assert_eq!(spec.selection.kinds, [Kind::Ingest]);
    // Not given by the entry: the command line's.
    assert_eq!(
        spec.selection.role_name.as_deref(),
        Some("amp-{cluster}-{kind}")
    );
    assert_eq!(spec.profile.as_deref(), Some("prod"));
    assert_eq!(spec.options.tags["team"], "sre");
    assert_eq!(spec.options.tags["cost"], "42");
    assert!(spec.options.restart);
    assert_eq!(spec.origin.as_deref(), Some("fleet.yaml clusters[0]"));
}

#[test]
fn an_entrys_inputs_are_checked_like_the_flags() {
    let (_, _, base) = parsed(&["setup"]);
    let bad_tag = entry(|e| e.tags = vec![("aws:x".into(), "y".into())]);
    assert_eq!(spec_for_entry(&base, &bad_tag).unwrap_err().exit_code(), 2);
    let agent = entry(|e| e.install_agent = Some(true));
    let err = spec_for_entry(&base, &agent).unwrap_err().to_string();
    assert!(
        err.contains("installAgent is for mode pod-identity"),
        "{err}"
    );
    let both = entry(|e| {
        e.workspace = Some("ws-1".into());
        e.create_workspace = Some("prod".into());
    });
    let err = spec_for_entry(&base, &both).unwrap_err().to_string();
    assert!(err.contains("not both"), "{err}");
    let (_, _, teardown) = parsed(&["teardown"]);
    let create = entry(|e| e.create_workspace = Some("prod".into()));
    let err = spec_for_entry(&teardown, &create).unwrap_err().to_string();
    assert!(err.contains("createWorkspace is for setup"), "{err}");
}

#[test]
fn a_workspace_alias_in_a_teardown_entry_may_be_gone_already() {
    let (_, _, teardown) = parsed(&["teardown"]);
    let e = entry(|e| e.workspace = Some("prod".into()));
    let spec = spec_for_entry(&teardown, &e).unwrap();
    assert!(matches!(
        spec.workspace,
        Some(WorkspaceRef::Alias { create: true, .. })
    ));
}

#[test]
fn regions_come_from_contexts_and_a_cluster_entry_must_say_its_own() {
    let (g, f, base) = parsed(&[
        "setup",
        "--context",
        "a",
        "--context",
        "b",
        "--region",
        "eu-west-1",
    ]);
    let err = specs(&g, &f, &base, None).unwrap_err().to_string();
    assert!(
        err.contains("--region would move every context's cluster"),
        "{err}"
    );
    let (_, _, base) = parsed(&["setup", "-f", "fleet.yaml", "--region", "eu-west-1"]);
    // A context entry keeps its context's region; a cluster entry takes --region.
    let context = spec_for_entry(&base, &entry(|_| {})).unwrap();
    assert_eq!(context.target.region, None);
    let cluster = entry(|e| {
        e.context = None;
        e.cluster = Some("prod".into());
    });
    assert_eq!(
        spec_for_entry(&base, &cluster)
            .unwrap()
            .target
            .region
            .as_deref(),
        Some("eu-west-1")
    );
    let (_, _, base) = parsed(&["setup", "-f", "fleet.yaml"]);
    let err = spec_for_entry(&base, &cluster).unwrap_err().to_string();
    assert!(err.contains("needs `region:`"), "{err}");
    assert!(err.starts_with("fleet.yaml clusters[0]"), "{err}");
}

#[test]
fn an_entrys_tags_are_checked_with_the_command_lines_as_one_set() {
    let (_, _, mut base) = parsed(&["setup"]);
    base.options.tags = Tags::from([("Team".to_string(), "a".to_string())]);
    // IAM compares keys ignoring case: Team and team are one key twice.
    let e = entry(|e| e.tags = vec![("team".into(), "b".into())]);
    let err = spec_for_entry(&base, &e).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("fleet.yaml clusters[0]"), "{err}");
}
