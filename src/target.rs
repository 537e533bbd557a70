//! Working out cluster, region and namespace from the kubeconfig and flags.
