//! Token lifetimes against a real registry with token auth (issue 11; see tests/token_auth.rs and
//! [`common::token`]): a token that dies in the middle of a push (the registry's clock decides; a
//! proxy holds back one answer so that it surely happens) is renewed after the registry's 401; a
//! token whose `expires_in` says it is about to run out is renewed before it is sent again; the same
//! for a token that dies while a base image is pulled; and a
//! token service announcing absurd lifetimes (2^64-1 s, negative) cannot crash the tool.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::peers::{self, require};
use common::slim::ok;
use common::token::{
    assert_no_secret, docker_config, password_entry, skopeo_digest, tool, TokenRegistry, User,
    REGISTRY_LEEWAY,
};
use proxy::{first, Fault, Proxy};
use std::time::Duration;

const ALICE_PW: &str = "Alice-pw-5e1f-never-print";
const PULL: &[&str] = &["pull"];
const PULL_PUSH: &[&str] = &["pull", "push"];
/// How long the proxy holds an answer back: longer than any short token lives at the registry.
const PAUSE: Duration = Duration::from_secs(6);

/// alice reads everything (for skopeo). `brief`'s first token dies at the registry within 3 s while
/// the answer says 60 s (the registry's clock is the one that counts), later ones live; `fresh`'s
/// live 4 to 5 s and the answer says 2 s (so the tool keeps each 1 s); `forever` and `negative` are
/// told 2^64-1 and -5 s. Every pause ([`PAUSE`]) outlasts the short tokens.
fn users() -> Vec<User> {
    let repos = ["brief", "fresh", "forever", "negative"];
    let mut alice = User::new("alice", ALICE_PW, &repos.map(|r| (r, PULL)));
    alice.access.push(("brief-base", PULL_PUSH));
    let user = |name: &'static str| User::new(name, "Pw-never-print", &[(name, PULL_PUSH)]);
    let brief = User {
        exp_secs: Some(3 - REGISTRY_LEEWAY),
        expires_in: Some(60.into()),
        short_tokens: Some(1),
        ..User::new(
            "brief",
            "Pw-never-print",
            &[("brief", PULL_PUSH), ("brief-base", PULL)],
        )
    };
    let fresh = User {
        exp_secs: Some(5 - REGISTRY_LEEWAY),
        expires_in: Some(2.into()),
        ..user("fresh")
    };
    let forever = User {
        expires_in: Some(u64::MAX.into()),
        ..user("forever")
    };
    let negative = User {
        expires_in: Some((-5).into()),
        ..user("negative")
    };
    vec![alice, brief, fresh, forever, negative]
}

/// Push hello-http as `user` to `repo` through a proxy that holds back the answers to the first
/// three upload-session POSTs (one per blob of the image, sent in parallel) by [`PAUSE`], so that the
/// uploads then all go out at once with the token they started with; returns the pushed digest.
fn push_with_a_pause(reg: &TokenRegistry, user: &str, password: &str, repo: &str) -> String {
    let px = Proxy::start(reg.host(), None);
    px.set_rule(first("POST", "/blobs/uploads/", 3, Fault::Slow(PAUSE)));
    let work = tempfile::tempdir().unwrap();
    let config = docker_config(work.path(), user, &px.host, password_entry(user, password));
    let target = format!("{}/{repo}", px.host);
    let layout = work.path().join("l");
    let out = ok(tool(
        &config,
        &["--output", layout.to_str().unwrap(), "--push", &target],
    ));
    assert_no_secret(&out, user, password);
    assert!(
        px.seen().iter().any(|s| s.fault != Fault::Pass),
        "the pause never happened"
    );
    out.lines()
        .next()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap()
        .to_string()
}

/// Requests with a token (not the `/v2/` ping) that the registry answered 401, after its first
/// `since` requests.
fn rejected_tokens(reg: &TokenRegistry, since: usize) -> Vec<String> {
    reg.registry
        .requests()
        .into_iter()
        .skip(since)
        .filter(|r| r.status == 401 && r.uri != "/v2/")
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

#[test]
fn token_that_dies_in_the_middle_of_a_push_is_renewed() {
    require!("skopeo");
    let Some(reg) = TokenRegistry::start(&users(), "token_that_dies") else {
        return;
    };
    let digest = push_with_a_pause(&reg, "brief", "Pw-never-print", "brief");
    // The token (valid under 3 s, announced as 60 s) was refused after the pause, and a new one was fetched.
    assert!(
        !rejected_tokens(&reg, 0).is_empty(),
        "{:?}",
        reg.registry.requests()
    );
    // One renewal for all the uploads that met the dead token, not one each: a request whose token
    // was already replaced does not drop the replacement.
    let asked = reg.tokens.requests_of("brief");
    assert_eq!(asked.len(), 2, "{asked:#?}");
    let reference = format!("{}/brief:0.1.0", reg.host());
    assert_eq!(skopeo_digest(&reference, "alice", ALICE_PW), digest);
}

#[test]
fn token_is_renewed_before_its_announced_expiry() {
    require!("skopeo");
    let Some(reg) = TokenRegistry::start(&users(), "token_is_renewed") else {
        return;
    };
    let digest = push_with_a_pause(&reg, "fresh", "Pw-never-print", "fresh");
    // `expires_in: 2`: after the pause the tool asked for a new token before sending the old one.
    assert_eq!(rejected_tokens(&reg, 0), Vec::<String>::new());
    assert!(reg.tokens.requests_of("fresh").len() >= 2);
    let reference = format!("{}/fresh:0.1.0", reg.host());
    assert_eq!(skopeo_digest(&reference, "alice", ALICE_PW), digest);
}

#[test]
fn absurd_token_lifetimes_do_not_crash_the_tool() {
    require!("skopeo");
    let Some(reg) = TokenRegistry::start(&users(), "absurd_token_lifetimes") else {
        return;
    };
    for user in ["forever", "negative"] {
        let work = tempfile::tempdir().unwrap();
        let config = docker_config(
            work.path(),
            user,
            reg.host(),
            password_entry(user, "Pw-never-print"),
        );
        let target = format!("{}/{user}", reg.host());
        let layout = work.path().join("l");
        let out = ok(tool(
            &config,
            &["--output", layout.to_str().unwrap(), "--push", &target],
        ));
        let digest = out.lines().next().unwrap().split('@').nth(1).unwrap();
        let reference = format!("{target}:0.1.0");
        assert_eq!(
            skopeo_digest(&reference, "alice", ALICE_PW),
            digest,
            "{user}"
        );
    }
}

#[test]
fn token_that_dies_while_a_base_is_pulled_is_renewed() {
    require!("skopeo", "umoci", "busybox");
    let Some(reg) = TokenRegistry::start(&users(), "token_that_dies_while_a_base") else {
        return;
    };
    // A config of its own, so its blob is surely fetched after the pause (not found in the cache).
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let layout = peers::busybox_layout("1", &["--config.env", &format!("NONCE={nonce}")]).unwrap();
    let base = format!("{}/brief-base:1", reg.host());
    let creds = format!("alice:{ALICE_PW}");
    let dest = ["--dest-tls-verify=false", "--dest-creds", &creds];
    peers::skopeo_copy(&layout.oci_ref(), &format!("docker://{base}"), &dest).unwrap();
    let base_digest = skopeo_digest(&base, "alice", ALICE_PW);

    let skopeo_requests = reg.registry.requests().len();
    let px = Proxy::start(reg.host(), None);
    let pause = Fault::Slow(PAUSE);
    px.set_rule(first("GET", "/v2/brief-base/manifests/1", 1, pause));
    let work = tempfile::tempdir().unwrap();
    let config = docker_config(
        work.path(),
        "brief",
        &px.host,
        password_entry("brief", "Pw-never-print"),
    );
    let out_layout = work.path().join("l");
    let json = ok(tool(
        &config,
        &[
            "--base",
            &format!("{}/brief-base:1", px.host),
            "--output",
            out_layout.to_str().unwrap(),
            "--message-format",
            "json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["images"][0]["base"]["digest"], base_digest.as_str());
    assert!(
        px.seen().iter().any(|s| s.fault != Fault::Pass),
        "the pause never happened"
    );
    let rejected = rejected_tokens(&reg, skopeo_requests);
    assert!(
        rejected.iter().any(|r| r.contains("/v2/brief-base/")),
        "{:?}",
        reg.registry.requests()
    );
}
