//! A private containerd 1.6 with the CRI plugin, its CNI network and the runtime under test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{ListPodSandboxRequest, RemovePodSandboxRequest, StopPodSandboxRequest};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::util::run;
use crate::{host, image};

/// The image every pod and container of the test runs (also the sandbox image).
pub const IMAGE: &str = "docker.io/library/berth-cri:test";

/// What the instance runs pods with.
pub struct Options {
    /// The runc-compatible binary containerd's runc shim calls (`BinaryName`).
    pub runtime: PathBuf,
    /// `SystemdCgroup = true` for the shim and a `.slice` as the pods' cgroup parent.
    pub systemd_cgroup: bool,
}

/// A running private containerd. Dropping it stops containerd and removes whatever a failed
/// run left behind (shims, mounts, bridge, cgroup parents, directories).
pub struct Instance {
    dir: tempfile::TempDir,
    child: Child,
    /// The containerd gRPC socket, which the CRI services share.
    pub socket: PathBuf,
    /// CNI bridge name and host-local's lease directory for this instance's network.
    pub bridge: String,
    pub ipam_dir: PathBuf,
    /// The CNI network's name (libcni's result cache files start with it).
    network: String,
    /// The pods' cgroup parent (`LinuxPodSandboxConfig.cgroup_parent`).
    pub cgroup_parent: String,
    /// The runtime's state root (`--root`), as the shim passes it.
    pub runtime_root: PathBuf,
}

/// Distinguishes instances in one process (bridge names, subnets, cgroup parents).
static SEQ: AtomicU32 = AtomicU32::new(0);

impl Instance {
    pub fn start(opts: &Options) -> Result<Self, String> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = tempfile::Builder::new()
            .prefix("berth-cri.")
            .tempdir_in("/tmp")
            .map_err(|e| format!("tempdir: {e}"))?;
        let d = dir.path().to_path_buf();
        let socket = d.join("containerd.sock");
        // Linux interface names are at most 15 bytes.
        let bridge = format!("bcri{:x}{seq}", pid % 0x10_0000);
        // 10.200.0.0/13 split in /24s by pid and sequence: other tests on this host use
        // neither this range nor our pid.
        let net = (pid % 1024) * 2 + seq % 2;
        let subnet = format!("10.{}.{}.0/24", 200 + net / 256, net % 256);
        let cgroup_parent = if opts.systemd_cgroup {
            format!("berthcri{pid}x{seq}.slice")
        } else {
            format!("/berth-cri-{pid}-{seq}")
        };
        let ipam_dir = d.join("cni-ipam");
        let network = format!("berth-cri-{pid}-{seq}");
        let runtime_root = d.join("runtime-root");
        let cni_conf = d.join("cni-conf");
        fs::create_dir_all(&cni_conf).map_err(|e| format!("{}: {e}", cni_conf.display()))?;
        // No gateway and no masquerade: the plugin then writes neither the host's ip_forward
        // nor iptables rules; the pod still gets an address, a veth and a lease.
        let conflist = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": network,
            "plugins": [{
                "type": "bridge", "bridge": bridge, "isGateway": false, "ipMasq": false,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                         "dataDir": ipam_dir}
            }]
        });
        fs::write(cni_conf.join("10-berth-cri.conflist"), conflist.to_string())
            .map_err(|e| format!("CNI config: {e}"))?;
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # The sandbox's -998 needs CAP_SYS_RESOURCE, which a test runner may lack.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "under-test"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.under-test]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.under-test.options]
        BinaryName = "{runtime}"
        Root = "{root}"
        SystemdCgroup = {systemd}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{conf}"
    max_conf_num = 1
"#,
            d = d.display(),
            sock = socket.display(),
            runtime = opts.runtime.display(),
            root = runtime_root.display(),
            systemd = opts.systemd_cgroup,
            conf = cni_conf.display(),
        );
        fs::write(d.join("config.toml"), config).map_err(|e| format!("containerd config: {e}"))?;
        let log = fs::File::create(d.join("containerd.log")).map_err(|e| format!("log: {e}"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| format!("log: {e}"))?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start containerd: {e}"))?;
        let mut instance = Instance {
            dir,
            child,
            socket,
            bridge,
            ipam_dir,
            network,
            cgroup_parent,
            runtime_root,
        };
        instance.wait_ready()?;
        let archive = image::build_archive(&d, IMAGE)?;
        instance
            .ctr(&[
                "images",
                "import",
                "--platform",
                "linux/amd64",
                &archive.to_string_lossy(),
            ])
            .map_err(|e| format!("import the test image: {e}"))?;
        Ok(instance)
    }

    /// The instance's directory: its root, state, sockets and scratch files are all under it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of containerd's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `ctr` against this instance, in the CRI plugin's namespace.
    pub fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let sock = self.socket.to_string_lossy();
        let mut all = vec!["--address", &sock, "--namespace", "k8s.io"];
        all.extend_from_slice(args);
        run("ctr", &all)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.ctr(&["version"]).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "containerd exited at start ({status}):\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "containerd did not answer within 30s:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A gRPC channel over the unix socket (the URI is a placeholder tonic requires).
    pub async fn channel(&self) -> Result<Channel, String> {
        let socket = self.socket.clone();
        Endpoint::try_from("http://[::]:50051")
            .map_err(|e| e.to_string())?
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| format!("connect to {}: {e}", self.socket.display()))
    }

    pub async fn clients(
        &self,
    ) -> Result<(RuntimeServiceClient<Channel>, ImageServiceClient<Channel>), String> {
        let channel = self.channel().await?;
        Ok((
            RuntimeServiceClient::new(channel.clone()),
            ImageServiceClient::new(channel),
        ))
    }
}

impl Instance {
    /// After a failed step: stops and removes every pod through CRI, so that containerd itself
    /// releases their netns, IPs and cgroups. Best effort; returns what failed.
    pub async fn remove_pods(&self) -> Vec<String> {
        let mut failed = Vec::new();
        let Ok((mut rt, _)) = self.clients().await else {
            return vec!["connect".into()];
        };
        let bound = Duration::from_secs(60);
        let list =
            tokio::time::timeout(bound, rt.list_pod_sandbox(ListPodSandboxRequest::default()));
        let Ok(Ok(list)) = list.await else {
            return vec!["ListPodSandbox".into()];
        };
        for pod in list.into_inner().items {
            let id = pod.id;
            let stop = StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            };
            if !matches!(
                tokio::time::timeout(bound, rt.stop_pod_sandbox(stop)).await,
                Ok(Ok(_))
            ) {
                failed.push(format!("StopPodSandbox {id}"));
            }
            let remove = RemovePodSandboxRequest {
                pod_sandbox_id: id.clone(),
            };
            if !matches!(
                tokio::time::timeout(bound, rt.remove_pod_sandbox(remove)).await,
                Ok(Ok(_))
            ) {
                failed.push(format!("RemovePodSandbox {id}"));
            }
        }
        failed
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SIGTERM lets containerd close its sockets; the shims outlive it by design and are
        // ours when started with our socket address.
        let _ = run("kill", &["-TERM", &self.child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in host::processes_mentioning(&self.socket.to_string_lossy()) {
            let _ = run("kill", &["-KILL", &pid.to_string()]);
        }
        let mut mounts = host::mounts_under(self.dir());
        mounts.sort_by(|a, b| b.cmp(a));
        for m in mounts {
            let _ = run("umount", &["-l", &m.to_string_lossy()]);
        }
        host::remove_pod_networks(&self.network);
        let _ = run("ip", &["link", "del", &self.bridge]);
        // Pod processes outlive their shims: kill what is left in the pods' cgroups.
        host::remove_cgroup_parent(&self.cgroup_parent);
    }
}
