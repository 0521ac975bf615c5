//! The cluster tier, one test binary: the real Kubernetes of `scripts/cluster up` (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet on containerd, all built
//! from their modules by `scripts/kube`), the agent's image built from the Dockerfile and
//! installed by the real `helm install`. PULLCHECK_CLUSTER names the cluster's `cluster.json`;
//! the binary runs inside the cluster's namespaces (`scripts/cluster exec DIR -- …`), where its
//! API server, node and test bed listen. Built only with `--features cluster`; `scripts/test`
//! runs it once per Kubernetes minor.

#[path = "../support/mod.rs"]
mod support;

mod agreement;
mod answers;
mod faults;
mod identity;
mod kube;
mod rbac;
