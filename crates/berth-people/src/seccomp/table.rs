//! A profile in Docker's form as static data, evaluated without parsing JSON. Docker's default
//! profile is one (`docker_table.rs`, written from data/docker-seccomp-default.json by this
//! module's test, which fails when the two differ): every image-form `run` evaluates it, and
//! parsing the JSON into serde_json values cost that run ~0.15 ms of CPU (session 8).

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::ARCH;

pub struct Profile {
    pub default_action: LinuxSeccompAction,
    pub default_errno_ret: Option<u32>,
    /// Docker's `archMap`: an architecture with the sub-architectures it runs.
    pub arch_map: &'static [(Arch, &'static [Arch])],
    pub syscalls: &'static [Rule],
}

pub struct Rule {
    pub names: &'static [&'static str],
    pub action: LinuxSeccompAction,
    pub errno_ret: Option<u32>,
    pub args: &'static [Arg],
    pub includes: Cond<'static>,
    pub excludes: Cond<'static>,
}

pub struct Arg {
    pub index: usize,
    pub value: u64,
    pub value_two: Option<u64>,
    pub op: LinuxSeccompOperator,
}

/// A rule's `includes` or `excludes`: capabilities, architectures (Go's names), minKernel.
pub struct Cond<'a> {
    pub caps: &'a [Capability],
    pub arches: &'a [&'a str],
    pub min_kernel: Option<(u32, u32)>,
}

/// No condition.
pub const NONE: Cond<'static> = Cond {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

impl Cond<'_> {
    /// As `includes`: every condition holds (an empty one holds).
    pub fn all_hold(&self, caps: &HashSet<Capability>, kernel: (u32, u32)) -> bool {
        self.caps.iter().all(|c| caps.contains(c))
            && (self.arches.is_empty() || self.arches.contains(&ARCH.0))
            && self.min_kernel.is_none_or(|m| kernel >= m)
    }

    /// As Docker's `excludes`: ANY listed capability is held, this architecture is listed,
    /// or the kernel is at least minKernel.
    pub fn any_holds(&self, caps: &HashSet<Capability>, kernel: (u32, u32)) -> bool {
        self.caps.iter().any(|c| caps.contains(c))
            || self.arches.contains(&ARCH.0)
            || self.min_kernel.is_some_and(|m| kernel >= m)
    }
}

/// Whether a rule with these conditions applies to a container with `caps` on `kernel`.
pub fn applies(
    includes: &Cond<'_>,
    excludes: &Cond<'_>,
    caps: &HashSet<Capability>,
    kernel: (u32, u32),
) -> bool {
    includes.all_hold(caps, kernel) && !excludes.any_holds(caps, kernel)
}

/// `p` for one container, as an OCI `linux.seccomp`.
pub fn evaluate(
    p: &Profile,
    caps: &HashSet<Capability>,
    kernel: (u32, u32),
) -> Result<LinuxSeccomp, String> {
    let mut arches = vec![ARCH.2];
    if let Some((_, subs)) = p.arch_map.iter().find(|(a, _)| *a == ARCH.2) {
        arches.extend_from_slice(subs);
    }
    let mut syscalls = Vec::new();
    for r in p.syscalls {
        if !applies(&r.includes, &r.excludes, caps, kernel) {
            continue;
        }
        let args = r.args.iter().map(Arg::oci).collect::<Result<Vec<_>, _>>()?;
        let mut s = LinuxSyscall::default();
        s.set_names(r.names.iter().map(|n| n.to_string()).collect())
            .set_action(r.action)
            .set_errno_ret(r.errno_ret)
            .set_args((!args.is_empty()).then_some(args));
        syscalls.push(s);
    }
    let mut s = LinuxSeccomp::default();
    s.set_default_action(p.default_action)
        .set_default_errno_ret(p.default_errno_ret)
        .set_architectures(Some(arches))
        .set_syscalls(Some(syscalls));
    Ok(s)
}

impl Arg {
    fn oci(&self) -> Result<LinuxSeccompArg, String> {
        let mut a = LinuxSeccompArgBuilder::default()
            .index(self.index)
            .value(self.value)
            .op(self.op);
        if let Some(two) = self.value_two {
            a = a.value_two(two);
        }
        a.build().map_err(|e| e.to_string())
    }
}

/// The Rust text of `docker_table.rs` for a profile in Docker's JSON form.
#[cfg(test)]
pub fn render(json: &str) -> String {
    use serde_json::Value;
    use std::fmt::Write;
    let v: Value = serde_json::from_str(json).unwrap();
    let debug = |what: &Value| -> String {
        // The variant's name, as the enum's serde names it.
        let s = what.as_str().unwrap();
        if let Ok(a) = serde_json::from_value::<LinuxSeccompAction>(what.clone()) {
            return format!("A::{a:?}");
        }
        if let Ok(a) = serde_json::from_value::<Arch>(what.clone()) {
            return format!("R::{a:?}");
        }
        if let Ok(o) = serde_json::from_value::<LinuxSeccompOperator>(what.clone()) {
            return format!("Op::{o:?}");
        }
        let c: Capability = serde_json::from_value(what.clone()).unwrap_or_else(|_| panic!("{s}"));
        format!("C::{c:?}")
    };
    let list = |v: Option<&Value>, f: &dyn Fn(&Value) -> String| -> String {
        let items: Vec<String> = v
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(f)
            .collect();
        format!("&[{}]", items.join(", "))
    };
    let cond = |c: Option<&Value>| -> String {
        let c = match c {
            Some(Value::Object(c)) if !c.is_empty() => c,
            _ => return "NONE".into(),
        };
        for k in c.keys() {
            assert!(["caps", "arches", "minKernel"].contains(&k.as_str()), "{k}");
        }
        let min = c
            .get("minKernel")
            .and_then(Value::as_str)
            .map_or("None".into(), |m| {
                format!("Some({:?})", super::parse_version(m).unwrap())
            });
        format!(
            "Cond {{ caps: {}, arches: {}, min_kernel: {min} }}",
            list(c.get("caps"), &debug),
            list(c.get("arches"), &|a| format!("{a}")),
        )
    };
    let obj = v.as_object().unwrap();
    for k in obj.keys() {
        assert!(
            ["defaultAction", "archMap", "syscalls"].contains(&k.as_str()),
            "{k}"
        );
    }
    let mut out = String::from(
        "// @generated from data/docker-seccomp-default.json by seccomp/table.rs's test: do not\n\
         // edit; `BERTH_BLESS=1 cargo test -p berth-people --bin berth-people seccomp` writes it.\n\
         use oci_spec::runtime::{Arch as R, Capability as C};\n\
         use oci_spec::runtime::{LinuxSeccompAction as A, LinuxSeccompOperator as Op};\n\n\
         use super::table::{Arg, Cond, Profile, Rule, NONE};\n\n\
         pub static DOCKER_DEFAULT: Profile = Profile {\n",
    );
    writeln!(out, "    default_action: {},", debug(&obj["defaultAction"])).unwrap();
    out.push_str("    default_errno_ret: None,\n    arch_map: &[\n");
    for m in obj["archMap"].as_array().unwrap() {
        let subs = list(m.get("subArchitectures"), &debug);
        writeln!(out, "        ({}, {subs}),", debug(&m["architecture"])).unwrap();
    }
    out.push_str("    ],\n    syscalls: &[\n");
    for r in obj["syscalls"].as_array().unwrap() {
        let r = r.as_object().unwrap();
        for k in r.keys() {
            let known = [
                "names", "action", "errnoRet", "args", "includes", "excludes",
            ];
            assert!(known.contains(&k.as_str()) || k == "comment", "{k}");
        }
        if let Some(c) = r
            .get("comment")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            writeln!(out, "        // {c}").unwrap();
        }
        out.push_str("        Rule {\n            names: &[\n");
        let mut line = String::new();
        for n in r["names"].as_array().unwrap() {
            if line.len() + n.to_string().len() > 84 {
                writeln!(out, "               {line}").unwrap();
                line.clear();
            }
            write!(line, " {n},").unwrap();
        }
        writeln!(out, "               {line}\n            ],").unwrap();
        writeln!(out, "            action: {},", debug(&r["action"])).unwrap();
        let errno = r.get("errnoRet").and_then(Value::as_u64);
        writeln!(out, "            errno_ret: {errno:?},").unwrap();
        let arg = |a: &Value| {
            let two = a.get("valueTwo").and_then(Value::as_u64);
            format!(
                "Arg {{ index: {}, value: {}, value_two: {two:?}, op: {} }}",
                a["index"],
                a["value"],
                debug(&a["op"])
            )
        };
        writeln!(out, "            args: {},", list(r.get("args"), &arg)).unwrap();
        writeln!(out, "            includes: {},", cond(r.get("includes"))).unwrap();
        writeln!(out, "            excludes: {},", cond(r.get("excludes"))).unwrap();
        out.push_str("        },\n");
    }
    out.push_str("    ],\n};\n");
    out
}
