//! Device access control on cgroup v2: the OCI device rules compiled to a
//! BPF_PROG_TYPE_CGROUP_DEVICE program and attached to the container's directory.
//!
//! Owns the program's instructions and its replacement on update (the new program is
//! attached before the old ones are detached, so no access slips through in between).
//! The syscalls themselves are in `sys`.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::sys::{self, Insn};
use crate::{fs, Result};

// The program's view of a device access (struct bpf_cgroup_dev_ctx, linux/bpf.h).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61;
const ALU_AND_K: u8 = 0x54;
const ALU_RSH_K: u8 = 0x74;
const ALU_MOV_K: u8 = 0xb4;
const ALU_MOV_X: u8 = 0xbc;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// Compiles, loads and attaches the rules to `dir`, replacing berth's earlier program.
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns = program(rules);
    let prog = sys::load_device_prog(&insns, "Apache")
        .map_err(|e| fs::io_err("load device BPF program for", dir, e))?;
    let cg = File::open(dir).map_err(|e| fs::io_err("open cgroup", dir, e))?;
    let old = sys::query_device_progs(cg.as_fd())
        .map_err(|e| fs::io_err("query device BPF programs of", dir, e))?;
    sys::attach_device_prog(cg.as_fd(), prog.as_fd(), sys::BPF_F_ALLOW_MULTI)
        .map_err(|e| fs::io_err("attach device BPF program to", dir, e))?;
    for id in old {
        let fd = sys::prog_fd_by_id(id)
            .map_err(|e| fs::io_err("open previous device BPF program of", dir, e))?;
        sys::detach_device_prog(cg.as_fd(), fd.as_fd())
            .map_err(|e| fs::io_err("detach previous device BPF program of", dir, e))?;
    }
    Ok(())
}

/// The last matching rule decides (as with v1's ordered writes), so rules are tested
/// from last to first and the first match returns; nothing matching means deny.
/// An allow rule matches when every requested access bit is allowed, a deny rule when
/// any requested bit is denied.
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),      // r2 = access_type
        insn(ALU_AND_K, 2, 0, 0, 0xffff), // r2 = device type
        insn(LDX_MEM_W, 3, 1, 0, 0),      // r3 = access_type
        insn(ALU_RSH_K, 3, 0, 0, 16),     // r3 = requested access
        insn(LDX_MEM_W, 4, 1, 4, 0),      // r4 = major
        insn(LDX_MEM_W, 5, 1, 8, 0),      // r5 = minor
    ];
    for r in rules.iter().rev() {
        let typ = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(DEV_BLOCK),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
            // The kernel asks the program about block and char devices only.
            LinuxDeviceType::P => continue,
        };
        let access = access_bits(r.access().as_deref());
        if access == 0 {
            continue;
        }
        // Each jump skips to the end of this rule's block; fixed up below.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps = Vec::new();
        if let Some(t) = typ {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 2, 0, 0, t));
        }
        if access != ACC_ALL {
            block.push(insn(ALU_MOV_X, 1, 3, 0, 0));
            jumps.push(block.len() + 1);
            if r.allow() {
                block.push(insn(ALU_AND_K, 1, 0, 0, !access & ACC_ALL));
                block.push(insn(JMP_JNE_K, 1, 0, 0, 0));
            } else {
                block.push(insn(ALU_AND_K, 1, 0, 0, access));
                block.push(insn(JMP_JEQ_K, 1, 0, 0, 0));
            }
        }
        for (reg, num) in [(4u8, r.major()), (5u8, r.minor())] {
            if let Some(n) = num.filter(|n| *n >= 0).and_then(|n| i32::try_from(n).ok()) {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, reg, 0, 0, n));
            }
        }
        block.push(insn(ALU_MOV_K, 0, 0, 0, i32::from(r.allow())));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in &jumps {
            // A block holds at most 8 instructions: the offset always fits.
            block[*j].off = (len - j - 1) as i16;
        }
        let unconditional = jumps.is_empty();
        p.extend(block);
        if unconditional {
            // Rules before this one can never decide.
            return p;
        }
    }
    p.push(insn(ALU_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

fn access_bits(access: Option<&str>) -> i32 {
    let a = access.filter(|a| !a.is_empty()).unwrap_or("rwm");
    a.chars().fold(0, |bits, c| {
        bits | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one access, interpreting the handful of opcodes it uses.
    fn run(p: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | typ as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i64::from(i.imm) as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads from ctx only");
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU_AND_K => r[dst] = (r[dst] & imm) & 0xffff_ffff,
                ALU_RSH_K => r[dst] = (r[dst] & 0xffff_ffff) >> imm,
                ALU_MOV_K => r[dst] = imm & 0xffff_ffff,
                ALU_MOV_X => r[dst] = r[src] & 0xffff_ffff,
                JMP_JEQ_K if r[dst] == imm => pc += i.off as usize,
                JMP_JNE_K if r[dst] != imm => pc += i.off as usize,
                JMP_JEQ_K | JMP_JNE_K => {}
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn default_oci_rules() {
        let p = program(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":5,"access":"rw"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},
                {"allow":false,"type":"c","major":136,"minor":7,"access":"w"}]"#,
        ));
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&p, DEV_CHAR, rw, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, rw, 1, 5), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 5), 0, "mknod not granted");
        assert_eq!(
            run(&p, DEV_BLOCK, ACC_READ, 1, 3),
            0,
            "block 1:3 is another device"
        );
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 42), 1, "wildcard minor");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 7), 1, "only write denied");
        assert_eq!(run(&p, DEV_CHAR, rw, 136, 7), 0, "later deny wins");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 200), 0, "default deny");
    }

    /// The kernel never asks the program about FIFOs: a p rule adds nothing.
    #[test]
    fn fifo_rules_add_nothing() {
        let base = r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#;
        let with_fifo = format!(r#"{base},{{"allow":true,"type":"p","major":8,"minor":666}}]"#);
        assert_eq!(
            program(&rules(&with_fifo)),
            program(&rules(&format!("{base}]")))
        );
    }

    #[test]
    fn allow_all_and_empty() {
        let p = program(&rules(r#"[{"allow":true,"access":"rwm"}]"#));
        assert_eq!(run(&p, DEV_BLOCK, ACC_ALL, 8, 0), 1);
        assert_eq!(p.len(), 8, "unconditional rule ends the program");
        let p = program(&[]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 0);
    }

    /// As root with a cgroup2 mount: a second apply replaces the first program.
    #[test]
    fn reapply_keeps_one_program() {
        let Some(root) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.subtree_control").exists())
        else {
            berth_common::skip!("no cgroup2 mount");
        };
        let dir = root.join(format!("berth-bpftest-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir(&dir) {
            berth_common::skip!("{e} (needs root)");
        }
        let r = rules(r#"[{"allow":false,"access":"rwm"}]"#);
        let outcome = apply(&dir, &r).and_then(|()| apply(&dir, &r)).map(|()| {
            let cg = File::open(&dir).unwrap();
            sys::query_device_progs(cg.as_fd()).unwrap().len()
        });
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(outcome.unwrap(), 1);
    }
}
