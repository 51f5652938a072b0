use serde_json::json;

use super::{Context, Outcome};

/// Print the OCI features document: what this berth supports
#[derive(clap::Args, Debug)]
pub struct Args {}

impl Args {
    pub fn run(self, _ctx: &Context) -> Outcome {
        // Every option the runtime's one table honours, recursive ones included.
        let mut mount_options: Vec<_> = berth_runtime::rootfs::option_names().collect();
        mount_options.sort_unstable();
        let doc = json!({
            "ociVersionMin": "1.0.0",
            "ociVersionMax": "1.2.0",
            "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            "mountOptions": mount_options,
            "linux": {
                "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
                "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
                "seccomp": {
                    "enabled": true,
                    "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                                "SCMP_ACT_TRAP"],
                    "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                                  "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                    "archs": berth_runtime::security::seccomp_archs(),
                    "knownFlags": berth_runtime::security::SECCOMP_FLAGS,
                    "supportedFlags": berth_runtime::security::SECCOMP_FLAGS
                },
                "apparmor": {"enabled": false},
                "selinux": {"enabled": false}
            },
            "annotations": {"dev.berth.version": env!("CARGO_PKG_VERSION")}
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        Ok(0)
    }
}
