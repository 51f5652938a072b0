//! Devices and terminals: the default devices and /dev links, a FIFO in `linux.devices`, the
//! console as the container's pty, `run` relaying a terminal, and a terminal without a console
//! socket refused. Real containers: these tests run as root.

mod common;

use common::*;
use serde_json::json;

#[test]
fn default_devices_and_dev_symlinks_exist() {
    if !need_root() {
        return;
    }
    let c = Ctr::new(
        "devices",
        &[
            "sh",
            "-c",
            "for d in null zero full random urandom tty; do stat -c '%n %t:%T %F' /dev/$d; done; \
             for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; \
             head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok",
        ],
    );
    let out = run_ok(&c);
    let expect = "/dev/null 1:3 character special file\n\
                  /dev/zero 1:5 character special file\n\
                  /dev/full 1:7 character special file\n\
                  /dev/random 1:8 character special file\n\
                  /dev/urandom 1:9 character special file\n\
                  /dev/tty 5:0 character special file\n\
                  fd /proc/self/fd\n\
                  stdin /proc/self/fd/0\n\
                  stdout /proc/self/fd/1\n\
                  stderr /proc/self/fd/2\n\
                  ptmx pts/ptmx\n\
                  4\n\
                  null-ok\n";
    assert_eq!(out, expect);
}

#[test]
fn run_in_the_foreground_relays_a_terminal() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("runtty", &["sh", "-c", "tty; echo on-a-tty"]);
    c.patch(|cfg| cfg["process"]["terminal"] = json!(true));
    let out = run_ok(&c).replace("\r\n", "\n");
    assert_eq!(out, "/dev/pts/0\non-a-tty\n");
    c.assert_nothing_left();
}

/// A FIFO in linux.devices (type p): the node is made and no cgroup rule is written for it
/// (the v1 controller refuses "p …" rules; the v2 program is never asked about FIFOs).
#[test]
fn fifo_device_is_created_without_a_cgroup_rule() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "fifo",
        &[
            "sh",
            "-c",
            "ls -ln /dev/myfifo; [ -p /dev/myfifo ] && echo fifo",
        ],
    );
    c.patch(|cfg| {
        cfg["linux"]["devices"] = json!([{
            "path": "/dev/myfifo", "type": "p", "major": 8, "minor": 666,
            "fileMode": 0o640, "uid": 7, "gid": 8
        }]);
        // A deny-all rule for p as a client could write: it must not reach the kernel either.
        cfg["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": false, "type": "p", "access": "rwm"}));
    });
    let o = c.run();
    assert_ok(&o, "run with a FIFO device");
    let out = stdout(&o);
    assert!(
        out.starts_with("prw-r-----") && out.contains(" 7 ") && out.contains(" 8 "),
        "{out}"
    );
    assert!(out.ends_with("fifo\n"), "{out}");
}

/// With a terminal, /dev/console exists and is the container's pty.
#[test]
fn the_console_is_the_pty() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "console",
        &[
            "sh",
            "-c",
            "stat -c %t:%T $(tty); stat -c %t:%T /dev/console; echo ok > /dev/console",
        ],
    );
    c.patch(|cfg| cfg["process"]["terminal"] = json!(true));
    let o = c.run();
    assert_ok(&o, "run");
    let out = stdout(&o).replace("\r\n", "\n");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?} stderr {}", stderr(&o));
    assert_eq!(lines[0], lines[1], "/dev/console is not the pty: {out:?}");
    assert_eq!(lines[2], "ok");
}

#[test]
fn terminal_without_console_socket_fails_at_create() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("noconsole", &["true"]);
    c.patch(|cfg| cfg["process"]["terminal"] = json!(true));
    let o = c.create();
    assert_one_line_error(&o, &["console-socket"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}
