use serde_json::json;

use crate::context::{Context, Outcome};

/// The newest runtime-spec version whose Linux fields berth honours: 1.3.0's netDevices,
/// memoryPolicy and seccomp listener included; intelRdt is refused with a clear error.
const OCI_VERSION_MAX: &str = "1.3.0";

/// Annotations that change what berth does with a container: the release callback reads
/// them at delete (image roots, networks), so clients must not pass them through from users.
const UNSAFE_ANNOTATIONS: [&str; 1] = ["dev.berth."];

#[derive(clap::Args, Debug)]
pub struct Args {}

impl Args {
    pub fn run(self, _ctx: &Context) -> Outcome {
        // Every option the runtime's one table honours, recursive ones included.
        let mut mount_options: Vec<_> = berth_runtime::init::rootfs::option_names().collect();
        mount_options.sort_unstable();
        let doc = json!({
            "ociVersionMin": "1.0.0",
            "ociVersionMax": OCI_VERSION_MAX,
            "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            "mountOptions": mount_options,
            "linux": {
                "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
                "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
                "seccomp": {
                    "enabled": true,
                    "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                                "SCMP_ACT_TRAP"],
                    "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                                  "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                    "archs": berth_runtime::init::security::seccomp_archs(),
                    "knownFlags": berth_runtime::init::security::SECCOMP_FLAGS,
                    "supportedFlags": berth_runtime::init::security::SECCOMP_FLAGS
                },
                "apparmor": {"enabled": false},
                "selinux": {"enabled": false},
                // What berth refuses at create (spec.rs), stated rather than left unknown.
                "intelRdt": {"enabled": false, "schemata": false},
                "memoryPolicy": {
                    "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                              "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                    "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
                },
                // mounts[].uidMappings/gidMappings and idmap/ridmap (containerd reads
                // this to allow user-namespace pods): init/rootfs/sources.rs.
                "mountExtensions": {"idmap": {"enabled": true}},
                "netDevices": {"enabled": true}
            },
            "potentiallyUnsafeConfigAnnotations": UNSAFE_ANNOTATIONS,
            "annotations": {"dev.berth.version": env!("CARGO_PKG_VERSION")}
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        Ok(0)
    }
}
