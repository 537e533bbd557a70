//! Validation of names against Kubernetes and IAM rules.
