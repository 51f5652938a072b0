//! Test-only crate: its test `tests/cri/` drives containerd 1.6's CRI over gRPC with a
//! runc-compatible runtime, as a kubelet would (docs/testing.md, "The CRI test"). Everything
//! lives in the test target, so its dependencies (tonic, prost, k8s-cri) are dev-dependencies
//! that `cargo build` never compiles.
