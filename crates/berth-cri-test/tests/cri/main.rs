//! containerd 1.6's CRI, driven over gRPC as a kubelet drives it, with berth as the runtime and
//! with runc as the oracle (the same sequence, the runtime a parameter):
//! RunPodSandbox, CreateContainer with memory/cpu limits and a read-only bind mount,
//! StartContainer, ExecSync (output and exit code), ContainerStats, StopContainer on a
//! container that has already exited, StopPodSandbox with a container still running,
//! RemovePodSandbox; then nothing of the pod is left on the host.
//!
//! Env: BERTH (the berth binary; default the workspace's release build, else its debug build),
//! BERTH_CRI_SYSTEMD_CGROUP=1 (the shim's `SystemdCgroup = true` and a `.slice` cgroup parent,
//! for a host whose PID 1 is systemd), BERTH_CRI_REPO (the repository, for
//! scripts/make-rootfs.sh, when the binary runs away from its build tree).

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod host;
mod image;
mod instance;
mod leftovers;
mod setup;
mod util;

use instance::{Instance, Options, IMAGE};
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use leftovers::{leases, nothing_left};
use setup::{berth_binary, skip_reason, which};
use tonic::transport::Channel;
use util::ensure;

type Runtime = RuntimeServiceClient<Channel>;

const MEMORY_LIMIT: i64 = 64 << 20;
const CPU_PERIOD: i64 = 100_000;
const CPU_QUOTA: i64 = 50_000;
const HOST_FILE: &str = "hello from the host\n";

#[tokio::test(flavor = "current_thread")]
async fn cri_pod_lifecycle_berth() {
    match berth_binary() {
        Ok(b) => lifecycle(b).await,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn cri_pod_lifecycle_runc_oracle() {
    match which("runc") {
        Some(r) => lifecycle(r).await,
        None => eprintln!("skipped: runc not installed"),
    }
}

async fn lifecycle(runtime: PathBuf) {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let systemd_cgroup = std::env::var("BERTH_CRI_SYSTEMD_CGROUP").is_ok_and(|v| v == "1");
    eprintln!(
        "--- runtime {} (systemd cgroup driver: {systemd_cgroup})",
        runtime.display()
    );
    let inst = Instance::start(&Options {
        runtime,
        systemd_cgroup,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = pod(&inst).await {
        let log = inst.log_tail();
        let failed = inst.remove_pods().await;
        if !failed.is_empty() {
            eprintln!(
                "--- cleanup after the failure: {} failed",
                failed.join(", ")
            );
        }
        panic!("{e}\n--- containerd log (last lines):\n{log}");
    }
}

/// Runs one CRI call with a bound; an error names the step.
async fn call<T>(
    step: &str,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, String> {
    match tokio::time::timeout(Duration::from_secs(120), fut).await {
        Ok(Ok(r)) => {
            eprintln!("--- {step}: ok");
            Ok(r.into_inner())
        }
        Ok(Err(s)) => Err(format!("{step}: {}: {}", s.code(), s.message())),
        Err(_) => Err(format!("{step}: no answer within 120s")),
    }
}

/// The "info" JSON of a verbose status answer.
fn verbose_info(
    info: &std::collections::HashMap<String, String>,
    what: &str,
) -> Result<serde_json::Value, String> {
    let raw = info
        .get("info")
        .ok_or_else(|| format!("{what}: verbose status has no info"))?;
    serde_json::from_str(raw).map_err(|e| format!("{what}: verbose info: {e}"))
}

fn pid_of(info: &serde_json::Value, what: &str) -> Result<u32, String> {
    info["pid"]
        .as_u64()
        .map(|p| p as u32)
        .ok_or_else(|| format!("{what}: no pid in verbose info"))
}

async fn pod(inst: &Instance) -> Result<(), String> {
    let (mut rt, mut images) = inst.clients().await?;
    wait_for_image(&mut images).await?;

    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "cri-pod".into(),
            uid: format!("uid-{}", std::process::id()),
            namespace: "berth-test".into(),
            attempt: 0,
        }),
        hostname: "cri-pod".into(),
        log_directory: inst.dir().join("logs").to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: inst.cgroup_parent.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let sid = call(
        "RunPodSandbox",
        rt.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: String::new(),
        }),
    )
    .await?
    .pod_sandbox_id;
    let status = call(
        "PodSandboxStatus",
        rt.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: sid.clone(),
            verbose: true,
        }),
    )
    .await?;
    let ip = status
        .status
        .and_then(|s| s.network)
        .map(|n| n.ip)
        .unwrap_or_default();
    ensure(!ip.is_empty(), || {
        "PodSandboxStatus: the pod has no IP".into()
    })?;
    let info = verbose_info(&status.info, "PodSandboxStatus")?;
    let sandbox_pid = pid_of(&info, "PodSandboxStatus")?;
    let netns = info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["type"] == "network"))
        .and_then(|n| n["path"].as_str())
        .map(PathBuf::from)
        .ok_or("PodSandboxStatus: no network namespace path in the sandbox's spec")?;
    // mountinfo names the real path (/var/run is a symlink to /run).
    let netns =
        std::fs::canonicalize(&netns).map_err(|e| format!("pod netns {}: {e}", netns.display()))?;
    ensure(host::is_mount_point(&netns), || {
        format!("pod netns {} is not mounted", netns.display())
    })?;
    ensure(!leases(&inst.ipam_dir, &ip).is_empty(), || {
        format!("no host-local lease for pod IP {ip}")
    })?;
    eprintln!("--- pod {sid}: IP {ip}, netns {}", netns.display());

    let data = inst.dir().join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    std::fs::write(data.join("hello"), HOST_FILE).map_err(|e| format!("host file: {e}"))?;
    // The container exits with 7 once something writes to its fifo: an exit the test controls.
    let work = container(
        &mut rt,
        &sid,
        &sandbox_config,
        "work",
        vec![
            "sh".into(),
            "-c".into(),
            "mkfifo /tmp/exit && read x < /tmp/exit; exit 7".into(),
        ],
        vec![Mount {
            container_path: "/data".into(),
            host_path: data.to_string_lossy().into_owned(),
            readonly: true,
            ..Default::default()
        }],
    )
    .await?;
    let work_pid = running_pid(&mut rt, &work).await?;

    // The limits reached the container's cgroup.
    let memory = host::cgroup_file(work_pid, "memory", "memory.limit_in_bytes", "memory.max")?;
    ensure(memory == MEMORY_LIMIT.to_string(), || {
        format!("memory limit {memory}, want {MEMORY_LIMIT}")
    })?;
    let quota = host::cgroup_file(work_pid, "cpu", "cpu.cfs_quota_us", "cpu.max")?;
    let want = [CPU_QUOTA.to_string(), format!("{CPU_QUOTA} {CPU_PERIOD}")];
    ensure(want.contains(&quota), || {
        format!("cpu quota '{quota}', want one of {want:?}")
    })?;

    let out = exec(
        &mut rt,
        &work,
        "cat /data/hello; echo to-stderr >&2; exit 3",
    )
    .await?;
    ensure(
        out.exit_code == 3 && out.stdout == HOST_FILE.as_bytes() && out.stderr == b"to-stderr\n",
        || {
            format!("ExecSync: exit {}, stdout {:?}, stderr {:?}; want 3, {HOST_FILE:?}, \"to-stderr\\n\"",
            out.exit_code, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        },
    )?;
    let out = exec(&mut rt, &work, "touch /data/new").await?;
    ensure(out.exit_code != 0, || {
        "ExecSync: the read-only mount /data took a write".into()
    })?;

    let stats = call(
        "ContainerStats",
        rt.container_stats(ContainerStatsRequest {
            container_id: work.clone(),
        }),
    )
    .await?;
    let usage = stats
        .stats
        .and_then(|s| s.memory)
        .and_then(|m| m.usage_bytes)
        .map(|v| v.value)
        .unwrap_or(0);
    ensure(usage > 0, || "ContainerStats: memory usage 0".into())?;
    eprintln!("--- ContainerStats: memory usage {usage} bytes");

    // A container that keeps running until StopPodSandbox stops it.
    let sleeper = container(
        &mut rt,
        &sid,
        &sandbox_config,
        "sleeper",
        vec!["sleep".into(), "2147483647".into()],
        Vec::new(),
    )
    .await?;
    let sleeper_pid = running_pid(&mut rt, &sleeper).await?;

    let out = exec(
        &mut rt,
        &work,
        "while [ ! -p /tmp/exit ]; do sleep 0.1; done; echo > /tmp/exit",
    )
    .await?;
    ensure(out.exit_code == 0, || {
        format!("ExecSync (release the container): exit {}", out.exit_code)
    })?;
    wait_exited(&mut rt, &work, 7).await?;
    // What a kubelet does after a container exits on its own; the runtime's kill finds no
    // process, which must not fail the call.
    call(
        "StopContainer (already exited)",
        rt.stop_container(StopContainerRequest {
            container_id: work.clone(),
            timeout: 10,
        }),
    )
    .await?;
    wait_exited(&mut rt, &work, 7).await?;

    call(
        "StopPodSandbox",
        rt.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: sid.clone(),
        }),
    )
    .await?;
    ensure(leases(&inst.ipam_dir, &ip).is_empty(), || {
        format!("pod IP {ip} still leased after StopPodSandbox")
    })?;
    call(
        "RemovePodSandbox",
        rt.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: sid.clone(),
        }),
    )
    .await?;

    let ids = [sid.clone(), work, sleeper];
    nothing_left(inst, &ids, &netns, &[sandbox_pid, work_pid, sleeper_pid])
}

/// Creates and starts a container with the test's limits in the pod; returns its ID.
async fn container(
    rt: &mut Runtime,
    sid: &str,
    sandbox_config: &PodSandboxConfig,
    name: &str,
    command: Vec<String>,
    mounts: Vec<Mount>,
) -> Result<String, String> {
    let config = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        command,
        mounts,
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                memory_limit_in_bytes: MEMORY_LIMIT,
                cpu_period: CPU_PERIOD,
                cpu_quota: CPU_QUOTA,
                cpu_shares: 512,
                ..Default::default()
            }),
            security_context: None,
        }),
        ..Default::default()
    };
    let id = call(
        &format!("CreateContainer {name}"),
        rt.create_container(CreateContainerRequest {
            pod_sandbox_id: sid.into(),
            config: Some(config),
            sandbox_config: Some(sandbox_config.clone()),
        }),
    )
    .await?
    .container_id;
    call(
        &format!("StartContainer {name}"),
        rt.start_container(StartContainerRequest {
            container_id: id.clone(),
        }),
    )
    .await?;
    Ok(id)
}

async fn running_pid(rt: &mut Runtime, id: &str) -> Result<u32, String> {
    let status = call(
        "ContainerStatus",
        rt.container_status(ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        }),
    )
    .await?;
    let state = status.status.as_ref().map(|s| s.state).unwrap_or(-1);
    ensure(state == ContainerState::ContainerRunning as i32, || {
        format!("container {id}: state {state}, want RUNNING")
    })?;
    pid_of(
        &verbose_info(&status.info, "ContainerStatus")?,
        "ContainerStatus",
    )
}

async fn exec(rt: &mut Runtime, id: &str, script: &str) -> Result<ExecSyncResponse, String> {
    let cmd = vec!["sh".into(), "-c".into(), script.into()];
    call(
        &format!("ExecSync {script:?}"),
        rt.exec_sync(ExecSyncRequest {
            container_id: id.into(),
            cmd,
            timeout: 60,
        }),
    )
    .await
}

/// Waits (bounded) until the container is EXITED, then checks its exit code.
async fn wait_exited(rt: &mut Runtime, id: &str, code: i32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = rt
            .container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(|s| format!("ContainerStatus {id}: {}", s.message()))?
            .into_inner()
            .status
            .ok_or("ContainerStatus: no status")?;
        if status.state == ContainerState::ContainerExited as i32 {
            return ensure(status.exit_code == code, || {
                format!("container exited {}, want {code}", status.exit_code)
            });
        }
        if Instant::now() > deadline {
            return Err(format!(
                "container {id} not EXITED 60s after its process was told to exit"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The CRI plugin learns of imported images from events: wait (bounded) until it lists ours.
async fn wait_for_image(images: &mut ImageServiceClient<Channel>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spec = ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        };
        let found = images
            .image_status(ImageStatusRequest {
                image: Some(spec),
                verbose: false,
            })
            .await
            .map_err(|s| format!("ImageStatus: {}", s.message()))?
            .into_inner()
            .image
            .is_some();
        if found {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "ImageStatus: {IMAGE} not known to CRI 30s after import"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
