//! Our runtime config laid over a base image's: what is kept, what is extended, what we replace.
//!
//! Takes the base's [`RunConfig`] and ours, and gives the merged one. Env: the base's variables stay,
//! ours are added and win on conflicts; `PATH` is the base's when we did not set one ourselves, with
//! `/usr/local/bin` (where our binaries go) put in front if missing. Labels and exposed ports: union,
//! ours win. Entrypoint, Cmd (cleared when we set an entrypoint but no cmd, as a Dockerfile
//! `ENTRYPOINT` does), User, WorkingDir and StopSignal: ours. Every other field (Volumes, Healthcheck,
//! ...): the base's.

use crate::image::RunConfig;
use crate::rootfs::BIN_DIR;

/// Merge `ours` over `base`. `default_path` is the PATH we set when the user did not choose one.
pub fn run_config(base: &RunConfig, ours: RunConfig, default_path: &str) -> RunConfig {
    let split = |e: &String| -> (String, String) {
        match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        }
    };
    let mut env: Vec<(String, String)> = base.env.iter().map(split).collect();
    for (k, v) in ours.env.iter().map(split) {
        let v = if k == "PATH" && v == default_path {
            match env.iter().find(|(bk, _)| bk == "PATH") {
                Some((_, bv)) if bv.split(':').any(|d| d == BIN_DIR) => bv.clone(),
                Some((_, bv)) => format!("{BIN_DIR}:{bv}"),
                None => v,
            }
        } else {
            v
        };
        match env.iter_mut().find(|(bk, _)| *bk == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
    let mut labels = base.labels.clone();
    labels.extend(ours.labels);
    let mut ports = base.exposed_ports.clone();
    ports.extend(ours.exposed_ports);
    let mut other = base.other.clone();
    other.extend(ours.other);
    RunConfig {
        user: ours.user.or_else(|| base.user.clone()),
        exposed_ports: ports,
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cmd: if ours.entrypoint.is_some() {
            ours.cmd
        } else {
            ours.cmd.or_else(|| base.cmd.clone())
        },
        entrypoint: ours.entrypoint.or_else(|| base.entrypoint.clone()),
        working_dir: ours.working_dir.or_else(|| base.working_dir.clone()),
        labels,
        stop_signal: ours.stop_signal.or_else(|| base.stop_signal.clone()),
        other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const DEF: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    #[test]
    fn base_env_is_kept_and_extended_ours_wins() {
        let base = RunConfig {
            env: vec![
                "PATH=/bin:/usr/bin".into(),
                "LANG=C".into(),
                "A=base".into(),
            ],
            cmd: Some(vec!["/bin/sh".into()]),
            labels: BTreeMap::from([("b".into(), "1".into()), ("x".into(), "base".into())]),
            ..Default::default()
        };
        let ours = RunConfig {
            env: vec![format!("PATH={DEF}"), "A=ours".into(), "Z=1".into()],
            entrypoint: Some(vec!["/usr/local/bin/app".into()]),
            labels: BTreeMap::from([("x".into(), "ours".into())]),
            ..Default::default()
        };
        let m = run_config(&base, ours, DEF);
        assert_eq!(
            m.env,
            [
                "PATH=/usr/local/bin:/bin:/usr/bin",
                "LANG=C",
                "A=ours",
                "Z=1"
            ]
        );
        assert_eq!(
            m.cmd, None,
            "the base's Cmd does not outlive a new entrypoint"
        );
        assert_eq!(m.labels["b"], "1");
        assert_eq!(m.labels["x"], "ours");
    }

    #[test]
    fn an_explicit_path_wins() {
        let base = RunConfig {
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        };
        let ours = RunConfig {
            env: vec!["PATH=/opt/bin".into()],
            ..Default::default()
        };
        assert_eq!(run_config(&base, ours, DEF).env, ["PATH=/opt/bin"]);
    }
}
