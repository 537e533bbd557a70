//! kube-rs implementation of [`super::Cluster`].
