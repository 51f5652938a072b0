//! `--change` instructions (Dockerfile syntax) for `commit` and `image import`: one parser.
//! CMD, ENTRYPOINT (JSON array, or shell form run by `/bin/sh -c`), ENV (`K=V…` or `K V`),
//! WORKDIR, USER, EXPOSE (`80`, `53/udp`), LABEL (`k=v…`).

use oci_spec::image::Config;

/// A `--change` berth cannot apply.
#[derive(Debug, thiserror::Error)]
#[error("--change {change:?}: {why}")]
pub struct ChangeError {
    pub change: String,
    pub why: String,
}

/// Applies each change to `config`, in order.
pub fn apply_changes(config: &mut Config, changes: &[String]) -> Result<(), ChangeError> {
    for change in changes {
        apply(config, change).map_err(|why| ChangeError {
            change: change.clone(),
            why,
        })?;
    }
    Ok(())
}

fn apply(config: &mut Config, change: &str) -> Result<(), String> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Err("needs a value".into());
    }
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.set_cmd(Some(command(rest)?));
        }
        "ENTRYPOINT" => {
            config.set_entrypoint(Some(command(rest)?));
        }
        "ENV" => {
            let mut env = config.env().clone().unwrap_or_default();
            for (k, v) in pairs(rest)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                env.push(format!("{k}={v}"));
            }
            config.set_env(Some(env));
        }
        "LABEL" => {
            let mut labels = config.labels().clone().unwrap_or_default();
            labels.extend(pairs(rest)?);
            config.set_labels(Some(labels));
        }
        "WORKDIR" => {
            config.set_working_dir(Some(rest.to_string()));
        }
        "USER" => {
            config.set_user(Some(rest.to_string()));
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(format!("{p:?} is not PORT[/tcp|udp|sctp]"));
                }
                let port = format!("{num}/{proto}");
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
            config.set_exposed_ports(Some(ports));
        }
        other => {
            return Err(format!(
                "{other} is not one of CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL"
            ))
        }
    }
    Ok(())
}

/// `["a","b"]` as is; anything else is the shell form.
fn command(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        return serde_json::from_str(rest).map_err(|e| format!("not a JSON array of strings: {e}"));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// `K=V K2="v 2"` or the legacy `K V` (one pair, the rest of the line as value), in the
/// order written (Docker keeps it: `ENV A=1 B=2` lists A first).
fn pairs(rest: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if !rest
        .split_whitespace()
        .next()
        .is_some_and(|w| w.contains('='))
    {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or("needs KEY=VALUE")?;
        out.push((k.to_string(), v.trim().to_string()));
        return Ok(out);
    }
    let mut s = rest;
    while !s.is_empty() {
        let (k, after) = s.split_once('=').ok_or("needs KEY=VALUE")?;
        let (v, next) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"').ok_or("unterminated quote")?;
                (&q[..end], &q[end + 1..])
            }
            None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("bad key {k:?}"));
        }
        out.push((k.to_string(), v.to_string()));
        s = next.trim_start();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_dockerfile_forms() {
        let mut c = Config::default();
        c.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        let changes: Vec<String> = [
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /init --flag",
            "ENV A=2 B=\"two words\"",
            "ENV C three words",
            "WORKDIR /srv",
            "USER 1000:1000",
            "EXPOSE 80 53/udp",
            "LABEL org.example=yes",
        ]
        .map(String::from)
        .to_vec();
        apply_changes(&mut c, &changes).expect("apply");
        assert_eq!(
            c.cmd().as_deref(),
            Some(&["sh".to_string(), "-c".into(), "echo hi".into()][..])
        );
        assert_eq!(c.entrypoint().as_ref().unwrap()[2], "/init --flag");
        let env = c.env().clone().unwrap();
        assert_eq!(env, ["PATH=/bin", "A=2", "B=two words", "C=three words"]);
        assert_eq!(c.working_dir().as_deref(), Some("/srv"));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert_eq!(c.exposed_ports().clone().unwrap(), ["80/tcp", "53/udp"]);
        assert_eq!(c.labels().as_ref().unwrap()["org.example"], "yes");
        for bad in ["RUN make", "CMD", "EXPOSE http", "CMD [not json"] {
            assert!(apply_changes(&mut c, &[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
