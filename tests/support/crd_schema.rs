//! Strict validation of Kubernetes manifests against the ACK CRDs in
//! `tests/fixtures/crds` (iam-controller Role, Policy, OpenIDConnectProvider;
//! eks-controller PodIdentityAssociation), and a hand check of `v1`
//! ServiceAccounts. Included with
//! `#[path = "support/crd_schema.rs"] mod crd_schema;`.
//!
//! Stricter than the API server on purpose. The server prunes the fields a
//! structural schema does not list, silently: a misspelt field would vanish
//! and the controller would reconcile something other than what was meant.
//! Here:
//! - every object schema that lists `properties` (and does not say
//!   `x-kubernetes-preserve-unknown-fields: true`) rejects any other property;
//!   `required` stays as the CRD has it;
//! - `apiVersion` and `kind` must be the CRD's group/version and kind, and
//!   `spec` must be there (every one of these CRDs requires fields in it);
//! - `status` is rejected: the CRDs have the status subresource, so the
//!   server drops it on create, like an unknown field;
//! - `metadata`, which the CRDs give as a bare `type: object`, is checked
//!   here: `name` required, a DNS-1123 subdomain; `namespace` optional, a
//!   DNS-1123 label; `labels` and `annotations` maps of strings with
//!   qualified-name keys (label values too are checked); nothing else (what
//!   else metadata can hold is the server's, or has no place in a manifest
//!   kept in Git).
//!
//! Every error names where it is, as a JSON pointer: `/spec/name: required`.

use jsonschema::error::ValidationErrorKind;
use serde_json::{Value, json};
use std::sync::OnceLock;

const CRD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/crds");
const METADATA_FIELDS: [&str; 4] = ["name", "namespace", "labels", "annotations"];

/// What one `apiVersion` + `kind` is validated with.
pub struct Schema {
    pub api_version: String,
    pub kind: String,
    /// ServiceAccounts: without a namespace, the IRSA trust (which names it)
    /// would not match where the object lands.
    namespace_required: bool,
    validator: jsonschema::Validator,
}

/// Every served version of every CRD in the fixtures, then `v1`
/// ServiceAccount. Loaded once.
pub fn schemas() -> Result<&'static [Schema], String> {
    static SCHEMAS: OnceLock<Result<Vec<Schema>, String>> = OnceLock::new();
    SCHEMAS.get_or_init(load).as_deref().map_err(|e| e.clone())
}

/// Validates `object` against the schema of its `apiVersion` and `kind`:
/// every error, each starting with its JSON pointer.
pub fn validate(object: &Value) -> Result<(), Vec<String>> {
    let schemas = schemas().map_err(|e| vec![e])?;
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let kind = object.get("kind").and_then(Value::as_str);
    let Some(schema) = schemas
        .iter()
        .find(|s| Some(s.api_version.as_str()) == api_version && Some(s.kind.as_str()) == kind)
    else {
        return Err(vec![unknown_type(schemas, object, api_version, kind)]);
    };
    let mut errors: Vec<String> = schema
        .validator
        .iter_errors(object)
        .flat_map(|e| describe(&e))
        .collect();
    if let Some(metadata) = object.get("metadata") {
        check_metadata(metadata, schema.namespace_required, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn load() -> Result<Vec<Schema>, String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(CRD_DIR)
        .map_err(|e| format!("{CRD_DIR}: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut schemas = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| format!("{}: not YAML: {e}", file.display()))?;
        for crd in docs
            .iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
        {
            schemas.extend(crd_schemas(crd).map_err(|e| format!("{}: {e}", file.display()))?);
        }
    }
    if schemas.is_empty() {
        return Err(format!("{CRD_DIR}: no CustomResourceDefinition"));
    }
    schemas.push(Schema {
        api_version: "v1".into(),
        kind: "ServiceAccount".into(),
        namespace_required: true,
        validator: build(&service_account_schema())?,
    });
    Ok(schemas)
}

/// One schema per served version of `crd`.
fn crd_schemas(crd: &Value) -> Result<Vec<Schema>, String> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().ok_or("no spec.group")?;
    let kind = spec["names"]["kind"].as_str().ok_or("no spec.names.kind")?;
    let versions = spec["versions"].as_array().ok_or("no spec.versions")?;
    let mut out = Vec::new();
    for version in versions.iter().filter(|v| v["served"] == true) {
        let name = version["name"].as_str().ok_or("a version without a name")?;
        let api_version = format!("{group}/{name}");
        let root = version["schema"]["openAPIV3Schema"].clone();
        if !root.is_object() {
            return Err(format!("{api_version} {kind}: no schema.openAPIV3Schema"));
        }
        let schema = strict_root(root, &api_version, kind)?;
        out.push(Schema {
            validator: build(&schema).map_err(|e| format!("{api_version} {kind}: {e}"))?,
            api_version,
            kind: kind.to_string(),
            namespace_required: false,
        });
    }
    if out.is_empty() {
        return Err(format!("{group} {kind}: no served version"));
    }
    Ok(out)
}

fn build(schema: &Value) -> Result<jsonschema::Validator, String> {
    // Kubernetes' OpenAPI v3 schemas are JSON Schema draft 4 in meaning
    // (boolean exclusiveMinimum); formats such as date-time are checked,
    // unknown ones (int64) ignored.
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("not a valid schema: {e}"))
}

/// The CRD's root schema, made strict, with apiVersion and kind pinned,
/// `spec` required and `status` taken out.
fn strict_root(mut root: Value, api_version: &str, kind: &str) -> Result<Value, String> {
    strictify(&mut root);
    let object = root
        .as_object_mut()
        .ok_or("the root schema is not an object")?;
    object.insert("type".into(), json!("object"));
    object.insert("additionalProperties".into(), json!(false));
    let properties = object
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("properties is not an object")?;
    properties.insert(
        "apiVersion".into(),
        json!({"type": "string", "enum": [api_version]}),
    );
    properties.insert("kind".into(), json!({"type": "string", "enum": [kind]}));
    // Its content is check_metadata's.
    properties.insert("metadata".into(), json!({"type": "object"}));
    properties.remove("status");
    if !properties.contains_key("spec") {
        return Err("the schema has no spec".into());
    }
    let required = object.entry("required").or_insert_with(|| json!([]));
    let list = required.as_array_mut().ok_or("required is not a list")?;
    for field in ["apiVersion", "kind", "metadata", "spec"] {
        if !list.iter().any(|r| r == field) {
            list.push(json!(field));
        }
    }
    Ok(root)
}

/// `additionalProperties: false` on every object schema that lists
/// `properties` and does not preserve unknown fields; `nullable` and
/// `x-kubernetes-int-or-string` in JSON Schema terms. Walks properties,
/// items and additionalProperties (a structural schema declares its fields
/// there; allOf/anyOf/oneOf/not only add value checks, left as they are).
fn strictify(schema: &mut Value) {
    let Value::Object(s) = schema else {
        return;
    };
    if s.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = s.get("type").cloned() {
            s.insert("type".into(), json!([t, "null"]));
        }
    }
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        s.remove("type");
        s.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if s.contains_key("properties") && !preserve {
        s.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = s.get_mut("properties") {
        properties.values_mut().for_each(strictify);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = s.get_mut(key) {
            strictify(sub);
        }
    }
}

/// `v1` ServiceAccount as a manifest of this tool: apiVersion, kind and
/// metadata, nothing else at the top level.
fn service_account_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "enum": ["v1"]},
            "kind": {"type": "string", "enum": ["ServiceAccount"]},
            "metadata": {"type": "object"},
        },
        "required": ["apiVersion", "kind", "metadata"],
        "additionalProperties": false,
    })
}

/// RFC 6901: `~` and `/` in a key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn at(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}

fn describe(e: &jsonschema::ValidationError<'_>) -> Vec<String> {
    let pointer = e.instance_path().as_str();
    match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|field| {
                if pointer.is_empty() && field == "status" {
                    "/status: unknown field: the controller's (status subresource), dropped on create".into()
                } else {
                    format!(
                        "{pointer}/{}: unknown field: the schema has no such property (the API server would drop it)",
                        escape(field)
                    )
                }
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), escape);
            vec![format!("{pointer}/{name}: required")]
        }
        _ => vec![format!("{}: {e}", at(pointer))],
    }
}

fn unknown_type(
    schemas: &[Schema],
    object: &Value,
    api_version: Option<&str>,
    kind: Option<&str>,
) -> String {
    if !object.is_object() {
        return "(root): not an object".into();
    }
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        let missing = if api_version.is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        return format!("/{missing}: required, a string");
    };
    let kinds_of = |v: &str| -> Vec<&str> {
        schemas
            .iter()
            .filter(|s| s.api_version == v)
            .map(|s| s.kind.as_str())
            .collect()
    };
    let served = kinds_of(api_version);
    if !served.is_empty() {
        return format!(
            "/kind: {kind:?} is not a kind of {api_version} (its kinds: {})",
            served.join(", ")
        );
    }
    let versions: Vec<&str> = schemas
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| s.api_version.as_str())
        .collect();
    if !versions.is_empty() {
        return format!(
            "/apiVersion: {api_version:?} does not serve {kind} ({} does)",
            versions.join(", ")
        );
    }
    let known: Vec<String> = schemas
        .iter()
        .map(|s| format!("{} {}", s.api_version, s.kind))
        .collect();
    format!(
        "/apiVersion: no schema for {api_version} {kind} (known: {})",
        known.join(", ")
    )
}

/// `metadata`: name, namespace, labels, annotations and nothing else.
fn check_metadata(metadata: &Value, namespace_required: bool, errors: &mut Vec<String>) {
    let Some(fields) = metadata.as_object() else {
        return; // The schema says `type: object` already.
    };
    for key in fields.keys() {
        if !METADATA_FIELDS.contains(&key.as_str()) {
            errors.push(format!(
                "/metadata/{}: not for a manifest here (only {})",
                escape(key),
                METADATA_FIELDS.join(", ")
            ));
        }
    }
    match fields.get("name") {
        None => errors.push("/metadata/name: required".into()),
        Some(Value::String(name)) => {
            if let Err(why) = dns_subdomain(name) {
                errors.push(format!(
                    "/metadata/name: {name:?} is not a DNS-1123 subdomain: {why}"
                ));
            }
        }
        Some(other) => errors.push(format!("/metadata/name: {other} is not a string")),
    }
    match fields.get("namespace") {
        None if namespace_required => errors.push("/metadata/namespace: required".into()),
        None => {}
        Some(Value::String(ns)) => {
            if let Err(why) = dns_label(ns) {
                errors.push(format!(
                    "/metadata/namespace: {ns:?} is not a DNS-1123 label: {why}"
                ));
            }
        }
        Some(other) => errors.push(format!("/metadata/namespace: {other} is not a string")),
    }
    for map in ["labels", "annotations"] {
        let Some(value) = fields.get(map) else {
            continue;
        };
        let Some(entries) = value.as_object() else {
            errors.push(format!("/metadata/{map}: {value} is not a map of strings"));
            continue;
        };
        for (key, value) in entries {
            let pointer = format!("/metadata/{map}/{}", escape(key));
            if let Err(why) = qualified_name(key) {
                errors.push(format!("{pointer}: the key is not a qualified name: {why}"));
            }
            match value {
                Value::String(v) if map == "labels" => {
                    if let Err(why) = label_value(v) {
                        errors.push(format!("{pointer}: {v:?} is not a label value: {why}"));
                    }
                }
                Value::String(_) => {}
                other => errors.push(format!("{pointer}: {other} is not a string")),
            }
        }
    }
}

/// RFC 1123 label: 1-63 of [a-z0-9-], starting and ending alphanumeric.
pub fn dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{} characters, not 1 to 63", s.len()));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("only lowercase letters, digits and '-'".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("starts or ends with '-'".into());
    }
    Ok(())
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated labels.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("{} characters, not 1 to 253", s.len()));
    }
    s.split('.').try_for_each(|part| {
        if part.is_empty() {
            return Err("an empty part between dots".into());
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err("only lowercase letters, digits, '-' and '.'".into());
        }
        if part.starts_with('-') || part.ends_with('-') {
            return Err("a part starts or ends with '-'".into());
        }
        Ok(())
    })
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS-1123
/// subdomain, the name 1-63 of [A-Za-z0-9-_.] starting and ending
/// alphanumeric.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            dns_subdomain(prefix).map_err(|why| format!("the prefix {prefix:?}: {why}"))?;
            name
        }
        None => s,
    };
    if name.is_empty() {
        return Err("no name".into());
    }
    label_value(name).map_err(|why| format!("the name {name:?}: {why}"))
}

/// A label value: empty, or 1-63 of [A-Za-z0-9-_.] starting and ending
/// alphanumeric.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > 63 {
        return Err(format!("{} characters, more than 63", s.len()));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("only letters, digits, '-', '_' and '.'".into());
    }
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !ends_ok(s.chars().next()) || !ends_ok(s.chars().last()) {
        return Err("starts or ends with other than a letter or digit".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> Value {
        json!({
            "apiVersion": "iam.services.k8s.aws/v1alpha1",
            "kind": "Role",
            "metadata": {"name": "demo-amp-iamproxy-ingest-role", "namespace": "monitoring"},
            "spec": {
                "name": "amp-iamproxy-ingest-role",
                "path": "/",
                "description": "AMP ingest",
                "assumeRolePolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[]}",
                "policyRefs": [{"from": {"name": "demo-ampingestpolicy"}}],
                "policies": ["arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"],
                "permissionsBoundary": "arn:aws:iam::111122223333:policy/b",
                "tags": [{"key": "app.kubernetes.io/managed-by", "value": "kubectl-amp-iam"}],
            },
        })
    }

    fn errors(object: &Value) -> Vec<String> {
        validate(object).expect_err("should not validate")
    }

    fn has(errors: &[String], needle: &str) -> bool {
        errors.iter().any(|e| e.contains(needle))
    }

    #[test]
    fn every_crd_loads_with_its_served_version() {
        let loaded: Vec<String> = schemas()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s.api_version, s.kind))
            .collect();
        for expected in [
            "iam.services.k8s.aws/v1alpha1Role",
            "iam.services.k8s.aws/v1alpha1Policy",
            "iam.services.k8s.aws/v1alpha1OpenIDConnectProvider",
            "eks.services.k8s.aws/v1alpha1PodIdentityAssociation",
            "v1ServiceAccount",
        ] {
            assert!(
                loaded.iter().any(|l| l.replace(' ', "") == expected),
                "{expected} not in {loaded:?}"
            );
        }
    }

    #[test]
    fn a_valid_role_passes() {
        assert_eq!(validate(&role()), Ok(()));
    }

    #[test]
    fn a_misspelt_field_fails_naming_it() {
        let mut r = role();
        let spec = r["spec"].as_object_mut().unwrap();
        let doc = spec.remove("assumeRolePolicyDocument").unwrap();
        spec.insert("assumeRolePolicyDocumnt".into(), doc);
        let e = errors(&r);
        assert!(
            has(&e, "/spec/assumeRolePolicyDocumnt: unknown field"),
            "{e:?}"
        );
        // And the real one is then missing.
        assert!(has(&e, "/spec/assumeRolePolicyDocument: required"), "{e:?}");
    }

    #[test]
    fn a_misspelt_field_deep_inside_fails_too() {
        let mut r = role();
        r["spec"]["policyRefs"][0]["from"]["nmae"] = json!("x");
        r["spec"]["tags"][0]["Key"] = json!("x");
        let e = errors(&r);
        assert!(
            has(&e, "/spec/policyRefs/0/from/nmae: unknown field"),
            "{e:?}"
        );
        assert!(has(&e, "/spec/tags/0/Key: unknown field"), "{e:?}");
    }

    #[test]
    fn a_missing_required_name_fails() {
        let mut r = role();
        r["spec"].as_object_mut().unwrap().remove("name");
        assert_eq!(errors(&r), ["/spec/name: required"]);

        let mut r = role();
        r["metadata"].as_object_mut().unwrap().remove("name");
        assert_eq!(errors(&r), ["/metadata/name: required"]);
    }

    #[test]
    fn a_wrong_kind_or_api_version_fails() {
        let mut r = role();
        r["kind"] = json!("Roles");
        let e = errors(&r);
        assert!(
            has(
                &e,
                "/kind: \"Roles\" is not a kind of iam.services.k8s.aws/v1alpha1"
            ),
            "{e:?}"
        );

        let mut r = role();
        r["apiVersion"] = json!("iam.services.k8s.aws/v1");
        let e = errors(&r);
        assert!(
            has(
                &e,
                "/apiVersion: \"iam.services.k8s.aws/v1\" does not serve Role"
            ),
            "{e:?}"
        );

        let mut r = role();
        r.as_object_mut().unwrap().remove("kind");
        assert_eq!(errors(&r), ["/kind: required, a string"]);
    }

    #[test]
    fn wrong_types_fail_with_their_pointer() {
        // IAM tags are a list of key/value; EKS's are a map.
        let mut r = role();
        r["spec"]["tags"] = json!({"team": "obs"});
        assert!(has(&errors(&r), "/spec/tags: "), "{:?}", errors(&r));

        let mut r = role();
        r["spec"]["assumeRolePolicyDocument"] = json!({"Version": "2012-10-17"});
        assert!(
            has(&errors(&r), "/spec/assumeRolePolicyDocument: "),
            "{:?}",
            errors(&r)
        );

        let association = json!({
            "apiVersion": "eks.services.k8s.aws/v1alpha1",
            "kind": "PodIdentityAssociation",
            "metadata": {"name": "demo-monitoring-amp"},
            "spec": {
                "clusterName": "demo",
                "namespace": "monitoring",
                "serviceAccount": "amp",
                "roleRef": {"from": {"name": "demo-role"}},
                "tags": {"team": "obs"},
            },
        });
        assert_eq!(validate(&association), Ok(()));
        let mut a = association.clone();
        a["spec"]["tags"] = json!([{"key": "team", "value": "obs"}]);
        assert!(has(&errors(&a), "/spec/tags: "), "{:?}", errors(&a));
    }

    #[test]
    fn status_and_server_metadata_and_bad_names_fail() {
        let mut r = role();
        r["status"] = json!({"roleID": "x"});
        r["metadata"]["uid"] = json!("1234");
        r["metadata"]["name"] = json!("Demo_Role");
        r["metadata"]["namespace"] = json!("mon.itoring");
        r["metadata"]["labels"] = json!({"team": "obs!", "bad key/x/y": "a"});
        r["metadata"]["annotations"] = json!({"n": 1});
        let e = errors(&r);
        for needle in [
            "/status: unknown field",
            "/metadata/uid: not for a manifest",
            "/metadata/name: \"Demo_Role\" is not a DNS-1123 subdomain",
            "/metadata/namespace: \"mon.itoring\" is not a DNS-1123 label",
            "/metadata/labels/team: \"obs!\" is not a label value",
            "/metadata/labels/bad key~1x~1y: the key is not a qualified name",
            "/metadata/annotations/n: 1 is not a string",
        ] {
            assert!(has(&e, needle), "{needle} not in {e:?}");
        }
        assert_eq!(e.len(), 7, "{e:?}");
    }

    #[test]
    fn service_accounts_get_the_hand_check() {
        let sa = json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "amp-iamproxy-ingest-service-account",
                "namespace": "monitoring",
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/r"},
                "labels": {"app.kubernetes.io/managed-by": "kubectl-amp-iam"},
            },
        });
        assert_eq!(validate(&sa), Ok(()));

        let mut s = sa.clone();
        s["secrets"] = json!([]);
        s["metadata"].as_object_mut().unwrap().remove("namespace");
        s["metadata"]["labels"]["x"] = json!(true);
        let e = errors(&s);
        assert!(has(&e, "/secrets: unknown field"), "{e:?}");
        assert!(has(&e, "/metadata/namespace: required"), "{e:?}");
        assert!(has(&e, "/metadata/labels/x: true is not a string"), "{e:?}");

        let mut s = sa;
        s["apiVersion"] = json!("core/v1");
        assert!(has(
            &errors(&s),
            "/apiVersion: \"core/v1\" does not serve ServiceAccount"
        ));
    }

    #[test]
    fn dns_names() {
        assert!(dns_label("monitoring").is_ok());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(dns_label("-a").is_err());
        assert!(dns_subdomain("demo.ampingestpolicy-1").is_ok());
        assert!(dns_subdomain("demo..x").is_err());
        assert!(dns_subdomain("Demo").is_err());
        assert!(dns_subdomain(&"a.".repeat(127)).is_err());
        assert!(qualified_name("eks.amazonaws.com/role-arn").is_ok());
        assert!(qualified_name("app.kubernetes.io/managed-by").is_ok());
        assert!(qualified_name("a/b/c").is_err());
        assert!(qualified_name("Example.com/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("kubectl-amp-iam").is_ok());
        assert!(label_value("-x").is_err());
    }
}
