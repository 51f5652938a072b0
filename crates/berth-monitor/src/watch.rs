//! The monitor's loop while the container runs: output to the log (and to attached clients),
//! attached clients' input to the terminal, then the exit: code, OOM kill, record, teardown.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};

use berth_monitor::record::{record_exit, Recorded};
use berth_monitor::{log, ATTACH_SOCKET};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{waitpid, Pid, WaitOptions};

use crate::oom::OomCounter;
use crate::setup::Binaries;
use crate::Args;

/// A started container the monitor holds.
pub struct Running {
    pub pid: i32,
    /// Its namespaces, let go once the exit is recorded (crate::ns).
    pub namespaces: crate::ns::Held,
    pub pidfd: OwnedFd,
    /// What the container writes, each with its log stream (0 stdout, 1 stderr); with a
    /// terminal the first is the pty master.
    pub streams: Vec<(OwnedFd, usize)>,
    /// Where attached clients' input goes: the pty master (`-t`) or the stdin pipe (`-i`).
    pub input: Option<OwnedFd>,
    /// `attach` clients connect here (containers with `-t` or `-i`).
    pub attach: Option<UnixListener>,
    pub oom: Option<OomCounter>,
    pub bins: Binaries,
    /// The output log, open before the spawner hears "started": a `logs` right after `run -d`
    /// finds it.
    pub log: Option<log::Writer>,
}

/// What one polled descriptor is.
#[derive(Clone, Copy)]
enum Slot {
    Init,
    Stream(usize),
    Listener,
    Client(usize),
}

impl Running {
    pub fn watch(mut self, args: &Args) {
        let bundle = &args.bundle;
        let mut log = self.log.take();
        let mut open = vec![true; self.streams.len()];
        let mut clients: Vec<Option<UnixStream>> = Vec::new();
        // Filled by each read, never zeroed: only pages a read wrote to become resident.
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut exited = false;
        // After the init's exit, what its survivors still write is drained for a moment.
        let linger = Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        while open.iter().any(|o| *o) {
            let mut fds = Vec::new();
            let mut slots = Vec::new();
            // The pidfd stays readable once the init has exited: watched until then only.
            if !exited {
                fds.push(PollFd::new(&self.pidfd, PollFlags::IN));
                slots.push(Slot::Init);
            }
            for (i, (fd, _)) in self.streams.iter().enumerate() {
                if open[i] {
                    fds.push(PollFd::new(fd, PollFlags::IN));
                    slots.push(Slot::Stream(i));
                }
            }
            if let Some(l) = &self.attach {
                fds.push(PollFd::new(l, PollFlags::IN));
                slots.push(Slot::Listener);
            }
            for (j, c) in clients.iter().enumerate() {
                if let Some(c) = c {
                    fds.push(PollFd::new(c, PollFlags::IN));
                    slots.push(Slot::Client(j));
                }
            }
            let n = match poll(&mut fds, exited.then_some(&linger)) {
                Err(Errno::INTR) => continue,
                Err(_) => break,
                Ok(n) => n,
            };
            if exited && n == 0 {
                break;
            }
            let ready: Vec<Slot> = fds
                .iter()
                .zip(&slots)
                .filter(|(f, _)| !f.revents().is_empty())
                .map(|(_, s)| *s)
                .collect();
            drop(fds);
            for slot in ready {
                match slot {
                    Slot::Init => exited = true,
                    Slot::Stream(i) => match read(&self.streams[i].0, &mut buf) {
                        // A pty master reads EIO once no process holds the terminal.
                        Ok(0) | Err(_) => open[i] = false,
                        Ok(n) => {
                            if let Some(w) = &mut log {
                                w.feed(self.streams[i].1, &buf[..n]);
                            }
                            for c in clients.iter_mut() {
                                // A client that cannot take output is dropped.
                                if c.as_mut().is_some_and(|s| s.write_all(&buf[..n]).is_err()) {
                                    *c = None;
                                }
                            }
                        }
                    },
                    Slot::Listener => {
                        if let Some(Ok((c, _))) = self.attach.as_ref().map(|l| l.accept()) {
                            clients.push(Some(c));
                        }
                    }
                    Slot::Client(j) => {
                        let Some(c) = &clients[j] else { continue };
                        match read(c, &mut buf) {
                            Ok(0) | Err(_) => clients[j] = None,
                            Ok(n) => {
                                if let Some(input) = &self.input {
                                    let _ = write_all(input, &buf[..n]);
                                }
                            }
                        }
                    }
                }
            }
        }
        drop(clients);
        if let Some(w) = &mut log {
            w.finish(0);
            w.finish(1);
        }
        let code = wait_init(self.pid);
        // Before the teardown removes the cgroup that counts them.
        let oom = self.oom.as_ref().is_some_and(OomCounter::fired);
        reap_orphans();
        let _ = std::fs::remove_file(bundle.join(ATTACH_SOCKET));
        // Recorded first, so `stop` and `wait` return without waiting for the teardown.
        let recorded = record_exit(bundle, code, oom);
        // Then the kernel's teardown of the namespaces, before the runtime's of the container.
        drop(self.namespaces);
        match recorded {
            Ok(Recorded::Gone) => {} // a `delete` or `rm -f` came first and removed it all
            Ok(Recorded::Remove) => self.bins.teardown(args, true),
            Ok(Recorded::Yes) | Err(_) => self.bins.teardown(args, false),
        }
    }
}

/// One read into `buf`'s capacity (its length becomes what was read).
fn read(fd: impl rustix::fd::AsFd, buf: &mut Vec<u8>) -> rustix::io::Result<usize> {
    buf.clear();
    rustix::io::read(fd, rustix::buffer::spare_capacity(buf))
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The init's exit code (128+N for signal N); None if it could not be collected.
fn wait_init(pid: i32) -> Option<i32> {
    let status = loop {
        match waitpid(Pid::from_raw(pid), WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            r => break r.ok().flatten().map(|(_, s)| s),
        }
    }?;
    status
        .exit_status()
        .or_else(|| status.terminating_signal().map(|s| 128 + s))
}

/// Collects every child that has ended (orphans of the container reparent to the monitor).
fn reap_orphans() {
    while let Ok(Some(_)) = rustix::process::wait(WaitOptions::NOHANG) {}
}
