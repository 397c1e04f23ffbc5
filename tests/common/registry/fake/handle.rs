//! The fake registry's answers: the distribution API routes (ping, blobs, uploads, mounts,
//! manifests), the token endpoint, and the faults a test injects.

use super::*;

fn query_param<'a>(path: &'a str, key: &str) -> Vec<&'a str> {
    let q = path.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn handle(st: &mut State, req: &Req, host: &str) -> Resp {
    let path = req.path.as_str();
    if let Some(f) = st.config.faults.iter_mut().find(|f| {
        f.times > 0 && (f.method == "*" || f.method == req.method) && path.contains(f.path)
    }) {
        f.times = f.times.saturating_sub(1);
        let mut r = resp(f.status)
            .h("Content-Type", "application/json")
            .body(r#"{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}"#);
        if let Some(ra) = f.retry_after {
            r = r.h("Retry-After", ra);
        }
        for (k, v) in &f.headers {
            r = r.h(k, v.clone());
        }
        return r;
    }
    if path.starts_with("/token") {
        return token(st, req);
    }
    if let Some(storage) = path.strip_prefix("/storage/") {
        return match st.blobs.get(storage) {
            Some(b) => resp(200).body(b.clone()),
            None => resp(404),
        };
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return resp(404);
    };
    st.v2_requests += 1;
    if st.config.bearer.is_some() {
        if st
            .config
            .revoke_tokens_after
            .is_some_and(|n| st.v2_requests > n)
            && !st.revoked
        {
            st.revoked = true;
            st.tokens.clear();
        }
        let ok = req
            .headers
            .get("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| st.tokens.iter().any(|x| x == t));
        if !ok {
            let repo = rest
                .split("/blobs/")
                .next()
                .unwrap_or("")
                .split("/manifests/")
                .next()
                .unwrap_or("");
            return resp(401)
                .h(
                    "WWW-Authenticate",
                    format!(r#"Bearer realm="http://{host}/token",service="fake-registry",scope="repository:{repo}:pull,push""#),
                )
                .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
        }
    }
    if rest.is_empty() {
        return resp(200).body("{}");
    }
    let clean = rest.split('?').next().unwrap_or(rest);
    if let Some((repo, tail)) = clean.split_once("/blobs/uploads/") {
        return upload(st, req, repo, tail);
    }
    if let Some((_, digest)) = clean.split_once("/blobs/") {
        return match (st.blobs.get(digest), &st.config.redirect_blobs_to) {
            (Some(_), Some(to)) if req.method == "GET" => {
                resp(307).h("Location", format!("{to}/storage/{digest}"))
            }
            (Some(b), _) => resp(200).body(b.clone()),
            (None, _) => resp(404),
        };
    }
    if let Some((repo, reference)) = clean.split_once("/manifests/") {
        let key = format!("{repo}:{reference}");
        return match req.method.as_str() {
            "PUT" => {
                let ct = req.headers.get("content-type").cloned().unwrap_or_default();
                let d = sha(&req.body);
                st.manifests.insert(key, (ct.clone(), req.body.clone()));
                st.manifests
                    .insert(format!("{repo}:{d}"), (ct, req.body.clone()));
                resp(201).h("Docker-Content-Digest", d)
            }
            _ => match st.manifests.get(&key) {
                Some((ct, b)) => resp(200)
                    .h("Content-Type", ct.clone())
                    .h("Docker-Content-Digest", sha(b))
                    .body(b.clone()),
                None => resp(404),
            },
        };
    }
    resp(404)
}

fn token(st: &mut State, req: &Req) -> Resp {
    let Some(b) = st.config.bearer.clone() else {
        return resp(404);
    };
    let form = String::from_utf8_lossy(&req.body).into_owned();
    let granted = if req.method == "POST" {
        let grant = query_param(&format!("?{form}"), "grant_type")
            .first()
            .map(|g| decode(g));
        let rt = query_param(&format!("?{form}"), "refresh_token")
            .first()
            .map(|g| decode(g));
        grant.as_deref() == Some("refresh_token") && rt.is_some() && rt == b.refresh_token
    } else {
        match req
            .headers
            .get("authorization")
            .and_then(|a| a.strip_prefix("Basic "))
        {
            Some(enc) => {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(enc)
                    .unwrap_or_default();
                let raw = String::from_utf8_lossy(&raw).into_owned();
                b.user_pass
                    .as_ref()
                    .is_some_and(|(u, p)| raw == format!("{u}:{p}"))
            }
            None => b.anonymous,
        }
    };
    if !granted {
        return resp(401).body(r#"{"details":"bad credentials"}"#);
    }
    st.next_id += 1;
    let t = format!("tok-{}", st.next_id);
    st.tokens.push(t.clone());
    // POSTs answer with `access_token`, GETs with `token`: the client must take either.
    let key = if req.method == "POST" {
        "access_token"
    } else {
        "token"
    };
    resp(200)
        .h("Content-Type", "application/json")
        .body(format!(r#"{{"{key}":"{t}","expires_in":300}}"#))
}

fn upload(st: &mut State, req: &Req, repo: &str, id: &str) -> Resp {
    match req.method.as_str() {
        "POST" => {
            let mount = query_param(&req.path, "mount").first().map(|m| decode(m));
            if let Some(m) = mount {
                if st.blobs.contains_key(&m) {
                    return resp(201).h("Location", format!("/v2/{repo}/blobs/{m}"));
                }
            }
            st.next_id += 1;
            let id = format!("u{}", st.next_id);
            st.uploads.insert(id.clone(), Vec::new());
            let base = st.config.upload_base.clone().unwrap_or_default();
            resp(202)
                .h(
                    "Location",
                    format!("{base}/v2/{repo}/blobs/uploads/{id}?_state=s{}", st.next_id),
                )
                .h("Range", "0-0")
        }
        "PATCH"
            if {
                st.patches += 1;
                st.config.fail_patches.contains(&st.patches)
            } =>
        {
            resp(503)
                .body(r#"{"errors":[{"code":"UNAVAILABLE","message":"injected PATCH fault"}]}"#)
        }
        "PATCH" => match st.uploads.get_mut(id) {
            Some(buf) if st.config.patch_416_once && !buf.is_empty() => {
                st.config.patch_416_once = false;
                let end = buf.len() - 1;
                resp(416).h("Range", format!("0-{end}"))
            }
            Some(buf) => {
                buf.extend_from_slice(&req.body);
                let end = buf.len().saturating_sub(1);
                let base = st.config.upload_base.clone().unwrap_or_default();
                resp(202)
                    .h("Location", format!("{base}/v2/{repo}/blobs/uploads/{id}"))
                    .h("Range", format!("0-{end}"))
            }
            None => resp(404),
        },
        "GET" => match st.uploads.get(id) {
            // The session's status: what it holds so far (`0-0` when empty, as docker-registry).
            Some(buf) => {
                let end = buf.len().saturating_sub(1);
                let base = st.config.upload_base.clone().unwrap_or_default();
                resp(204)
                    .h("Location", format!("{base}/v2/{repo}/blobs/uploads/{id}"))
                    .h("Range", format!("0-{end}"))
            }
            None => resp(404),
        },
        "PUT" => {
            let Some(mut buf) = st.uploads.remove(id) else {
                return resp(404);
            };
            buf.extend_from_slice(&req.body);
            let want = query_param(&req.path, "digest")
                .first()
                .map(|d| decode(d))
                .unwrap_or_default();
            let got = sha(&buf);
            if want != got {
                return resp(400)
                    .body(r#"{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}"#);
            }
            st.blobs.insert(got.clone(), buf);
            resp(201).h("Docker-Content-Digest", got)
        }
        _ => resp(405),
    }
}
