//! The push sink: put an [`Artifact`] into one or more registry repositories under one or more tags.
//!
//! Takes an artifact whose bytes are in a [`BlobStore`] and a list of references, and gives one
//! [`PushReport`] per reference. Order per repository: every config and layer blob (bounded parallel
//! uploads; existing blobs are skipped, blobs known to live in another repository of the same registry
//! are mounted, as are those the [`MountMemory`] saw pushed to another of its repositories before),
//! then the child manifests of an index (by digest), then the root manifest under each tag.
//! Manifests go last, so a registry never holds a manifest that points at a missing blob. An image the
//! repository already holds (its manifest, and for an index every child manifest, found by digest) is
//! not pushed again: only tags that do not name it yet are written.

use crate::blob::{Artifact, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::registry::{BlobOutcome, Client, ClientOptions, Clients, CredentialEnv, Tuning};
use crate::sink::mounts::{MountMemory, Snapshot};
use crate::ui;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub use crate::report::PushReport;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Hosts (`host` or `host:port`) where plain http and unverified TLS are allowed (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Extra CA files (PEM) to trust (`--registry-ca`).
    pub registry_ca: Vec<PathBuf>,
    /// Blob uploads running at once (at least 1).
    pub jobs: usize,
    /// Repositories known to hold a blob already (e.g. the base image's), for cross-repository mounts.
    pub mount_from: BTreeMap<Digest, Vec<Reference>>,
    /// Directories with per-registry CA files (default: `/etc/containers/certs.d`, `/etc/docker/certs.d`).
    pub certs_dirs: Vec<PathBuf>,
    /// Where credentials are looked up (default: the process environment).
    pub credentials: CredentialEnv,
    /// Timeouts, retries and chunking.
    pub tuning: Tuning,
    /// Where to remember which repositories hold which blobs, to mount them in later pushes (none:
    /// nothing is remembered).
    pub mount_memory: Option<MountMemory>,
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        let c = ClientOptions::default();
        PushOptions {
            insecure_registries: c.insecure_registries,
            registry_ca: c.registry_ca,
            jobs: 4,
            mount_from: BTreeMap::new(),
            certs_dirs: c.certs_dirs,
            credentials: c.credentials,
            tuning: c.tuning,
            mount_memory: None,
        }
    }
}

impl PushOptions {
    /// The registry client options these push options imply.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            insecure_registries: self.insecure_registries.clone(),
            registry_ca: self.registry_ca.clone(),
            certs_dirs: self.certs_dirs.clone(),
            credentials: self.credentials.clone(),
            tuning: self.tuning.clone(),
        }
    }
}

#[derive(Default)]
struct Counts {
    uploaded_bytes: u64,
    skipped_bytes: u64,
    uploaded_blobs: usize,
    skipped_blobs: usize,
    mounted_blobs: usize,
    mounted_bytes: u64,
    /// (digest, source) of mounts answered with an upload session: the source lacks the blob.
    refused: Vec<(Digest, String)>,
}

impl Counts {
    /// Count what happened to blob `b`.
    fn record(&mut self, b: &Descriptor, outcome: BlobOutcome) {
        match &outcome {
            BlobOutcome::Skipped => {
                self.skipped_blobs += 1;
                self.skipped_bytes += b.size;
            }
            BlobOutcome::Mounted(_) => {
                self.mounted_blobs += 1;
                self.mounted_bytes += b.size;
                self.skipped_bytes += b.size;
            }
            BlobOutcome::Uploaded | BlobOutcome::NotMounted(_) => {
                self.uploaded_blobs += 1;
                self.uploaded_bytes += b.size;
            }
        }
        ui::verbose(format!("{} {}: {outcome:?}", b.digest, human_bytes(b.size)));
        if let BlobOutcome::NotMounted(from) = outcome {
            self.refused.push((b.digest.clone(), from));
        }
    }

    /// The `Uploaded` status line of one repository's blobs.
    fn say_uploaded(&self) {
        let saved = match self.mounted_blobs {
            0 => String::new(),
            _ => format!(" ({} not uploaded)", human_bytes(self.mounted_bytes)),
        };
        ui::status(
            "Uploaded",
            format!(
                "{} blobs ({}), {} already there, {} mounted{saved}",
                self.uploaded_blobs,
                human_bytes(self.uploaded_bytes),
                self.skipped_blobs,
                self.mounted_blobs
            ),
        );
    }
}

/// Push every blob of `artifact` (from `store`), then the child manifests (for an index), then the root
/// manifest under each tag of `refs` (one or several repositories and registries). Manifest last, so a
/// registry never holds a manifest that points to a missing blob. Skips the blobs and child manifests
/// when the repository already holds the whole image (see `has_image`).
pub fn push(
    artifact: &Artifact,
    store: &BlobStore,
    refs: &[Reference],
    opts: &PushOptions,
) -> Result<Vec<PushReport>> {
    let mut clients = Clients::new(opts.client_options());
    push_with(&mut clients, artifact, store, refs, opts)
}

/// [`push`] with the registry clients of `clients` (made from `opts.client_options()`), so that a run
/// pushing several artifacts pings each registry and gets its credentials and tokens once.
pub fn push_with(
    clients: &mut Clients,
    artifact: &Artifact,
    store: &BlobStore,
    refs: &[Reference],
    opts: &PushOptions,
) -> Result<Vec<PushReport>> {
    check_refs(artifact, refs)?;
    let mut pushed: HashMap<String, Vec<String>> = HashMap::new();
    let memory = opts.mount_memory.as_ref().map(|m| (m, m.load()));
    let mut reports = Vec::new();
    for (registry, repo, tags) in &by_repository(refs) {
        let client = clients.get(registry)?;
        let earlier = pushed.get(registry).cloned().unwrap_or_default();
        let remembered = memory.as_ref().map(|(_, s)| s);
        let mounts = mount_sources(registry, repo, artifact, opts, &earlier, remembered);
        let mut sources: Vec<String> = mounts
            .values()
            .flatten()
            .filter(|s| *s != repo)
            .cloned()
            .collect();
        sources.sort();
        sources.dedup();
        client.declare_push(repo, &sources);
        // One retry budget for everything this push asks of the registry.
        client.start_budget();
        client
            .ping()
            .with_context(|| format!("pushing to {registry}/{repo}"))?;

        // The same image pushed before (a re-run of a release job): one HEAD per manifest replaces a
        // HEAD per blob and the manifest uploads.
        let present = has_image(&client, repo, artifact);
        let counts = if present {
            ui::status(
                "Present",
                format!(
                    "{registry}/{repo}@{} (nothing to upload)",
                    artifact.root.digest
                ),
            );
            Counts {
                skipped_blobs: artifact.blobs.len(),
                skipped_bytes: artifact.blobs.iter().map(|b| b.size).sum(),
                ..Counts::default()
            }
        } else {
            let counts = push_blobs(&client, repo, artifact, store, &mounts, opts.jobs)?;
            push_child_manifests(&client, repo, artifact, store)?;
            counts
        };
        reports.extend(tag(&client, repo, tags, artifact, store, present, &counts)?);
        if let Some((m, _)) = &memory {
            let held: Vec<Digest> = artifact.blobs.iter().map(|b| b.digest.clone()).collect();
            m.remember(registry, repo, &held, &counts.refused);
        }
        pushed
            .entry(registry.clone())
            .or_default()
            .push(repo.clone());
    }
    Ok(reports)
}

/// Refuses an empty list, and a reference that pins a digest other than the artifact's.
fn check_refs(artifact: &Artifact, refs: &[Reference]) -> Result<()> {
    if refs.is_empty() {
        bail!("nothing to push to: give an image reference (e.g. `--push ghcr.io/acme/app:1.0`)");
    }
    let root = &artifact.root;
    for r in refs {
        if let Some(d) = r.digest.as_ref().filter(|d| **d != root.digest) {
            bail!(
                "cannot push {r}: it pins digest {d}, but the built image is {}; drop the \
                 `@digest` part",
                root.digest
            );
        }
    }
    Ok(())
}

/// The references grouped by registry and repository, keeping the order the user gave.
fn by_repository(refs: &[Reference]) -> Vec<(String, String, Vec<&Reference>)> {
    let mut groups: Vec<(String, String, Vec<&Reference>)> = Vec::new();
    for r in refs {
        match groups
            .iter_mut()
            .find(|(reg, repo, _)| *reg == r.registry && *repo == r.repository)
        {
            Some(g) => g.2.push(r),
            None => groups.push((r.registry.clone(), r.repository.clone(), vec![r])),
        }
    }
    groups
}

/// Where each blob may be mounted from in `registry`: the hinted repositories (the base's), then
/// the repositories this run pushed to before (`earlier`), then the newest one the mount memory
/// names.
fn mount_sources(
    registry: &str,
    repo: &str,
    artifact: &Artifact,
    opts: &PushOptions,
    earlier: &[String],
    remembered: Option<&Snapshot>,
) -> BTreeMap<Digest, Vec<String>> {
    let mut mounts: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for (d, hint_refs) in &opts.mount_from {
        let v = mounts.entry(d.clone()).or_default();
        v.extend(
            hint_refs
                .iter()
                .filter(|h| h.registry == registry)
                .map(|h| h.repository.clone()),
        );
    }
    for b in &artifact.blobs {
        let v = mounts.entry(b.digest.clone()).or_default();
        v.extend(earlier.iter().cloned());
        // Then the newest repository the memory names (one mount is attempted per blob, so one
        // source is enough: a stale one is dropped after its refusal, and the next push tries
        // the one before it).
        let holders = remembered.map_or(&[][..], |s| s.holders(registry, &b.digest));
        if let Some(r) = holders.iter().find(|r| *r != repo && !v.contains(r)) {
            v.push(r.clone());
        }
    }
    mounts
}

/// The child manifests of an index, by digest (none for a single manifest).
fn push_child_manifests(
    client: &Client,
    repo: &str,
    artifact: &Artifact,
    store: &BlobStore,
) -> Result<()> {
    for m in &artifact.manifests {
        let bytes = read_manifest(store, m)?;
        client
            .put_manifest(repo, &m.digest.to_string(), &m.media_type, &bytes)
            .with_context(|| {
                format!(
                    "pushing the platform manifest {} to {}/{repo}",
                    m.digest,
                    client.registry()
                )
            })?;
    }
    Ok(())
}

/// The root manifest under each tag of `tags` (a tag that names it already is left as it is), with
/// one report per tag; the counts go to the first.
fn tag(
    client: &Client,
    repo: &str,
    tags: &[&Reference],
    artifact: &Artifact,
    store: &BlobStore,
    present: bool,
    counts: &Counts,
) -> Result<Vec<PushReport>> {
    let root = &artifact.root;
    let mut reports = Vec::new();
    let bytes = read_manifest(store, root)?;
    for (i, r) in tags.iter().enumerate() {
        let target = r.tag.clone().unwrap_or_else(|| root.digest.to_string());
        // A tag that already names this digest is left as it is.
        let tagged = present && (r.tag.is_none() || names(client, repo, &target, root));
        if !tagged {
            client
                .put_manifest(repo, &target, &root.media_type, &bytes)
                .with_context(|| {
                    format!(
                        "pushing {} to {}/{repo}:{target}",
                        root.digest,
                        client.registry()
                    )
                })?;
        }
        let reference = r.tagged_name();
        let word = if tagged { "Present" } else { "Pushed" };
        // `name:tag@digest`, or `name@digest` for a push by digest alone (not `@digest` twice).
        let shown = match r.tag {
            Some(_) => format!("{reference}@{}", root.digest),
            None => format!("{}@{}", r.name(), root.digest),
        };
        ui::status(word, shown);
        let c = if i == 0 { counts } else { &Counts::default() };
        reports.push(PushReport {
            reference,
            digest: root.digest.clone(),
            uploaded_bytes: c.uploaded_bytes,
            skipped_bytes: c.skipped_bytes,
            uploaded_blobs: c.uploaded_blobs,
            skipped_blobs: c.skipped_blobs,
            mounted_blobs: c.mounted_blobs,
            mounted_bytes: c.mounted_bytes,
        });
    }
    Ok(reports)
}

/// Whether `repo` already holds the whole image: the root manifest and, for an index, every child
/// manifest, by digest. A registry stores a manifest only once it has the blobs it refers to, but some
/// accept an index whose children are missing, so those are checked too. Each check is one HEAD without
/// retries; any doubt (an error, another digest) means "push everything", never a failure.
fn has_image(client: &Client, repo: &str, artifact: &Artifact) -> bool {
    std::iter::once(&artifact.root)
        .chain(&artifact.manifests)
        .all(|m| names(client, repo, &m.digest.to_string(), m))
}

/// Whether `reference` (a tag or a digest) in `repo` names the manifest `m`.
fn names(client: &Client, repo: &str, reference: &str, m: &Descriptor) -> bool {
    match client.probe_manifest(repo, reference) {
        Ok(Some(d)) => d.digest == m.digest,
        Ok(None) => false,
        Err(e) => {
            ui::verbose(format!("{e:#}: pushing it"));
            false
        }
    }
}

/// A manifest's bytes from the store, checked against its descriptor (we send exactly what we hashed).
fn read_manifest(store: &BlobStore, d: &Descriptor) -> Result<Vec<u8>> {
    let bytes = store.read(&d.digest)?;
    if Digest::of(&bytes) != d.digest || bytes.len() as u64 != d.size {
        bail!(
            "the manifest {} in the blob store {} does not match its descriptor: rebuild the image",
            d.digest,
            store.root().display()
        );
    }
    Ok(bytes)
}

/// Push every blob of the artifact into `repo` with up to `jobs` threads; the first error stops the rest.
fn push_blobs(
    client: &Client,
    repo: &str,
    artifact: &Artifact,
    store: &BlobStore,
    mounts: &BTreeMap<Digest, Vec<String>>,
    jobs: usize,
) -> Result<Counts> {
    let blobs = &artifact.blobs;
    let total: u64 = blobs.iter().map(|b| b.size).sum();
    ui::status(
        "Pushing",
        format!(
            "{}/{repo} ({} blobs, {})",
            client.registry(),
            blobs.len(),
            human_bytes(total)
        ),
    );
    // On a terminal: the total, and a bar per blob while it is being pushed (moved by the client's
    // body reader). A blob the registry has, or mounts, counts as done.
    let bar = ui::progress::bytes("Uploading", &format!("{}/{repo}", client.registry()), total);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let counts = Mutex::new(Counts::default());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let no_mounts = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, blobs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= blobs.len() || failed.load(Ordering::SeqCst) {
                    return;
                }
                let b = &blobs[i];
                let from = mounts.get(&b.digest).unwrap_or(&no_mounts);
                let part = bar.part("Uploading", &b.digest.to_string(), b.size);
                match client.push_blob(repo, b, store, from) {
                    Ok(outcome) => {
                        part.done();
                        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
                        c.record(b, outcome);
                    }
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e.context(format!(
            "pushing blobs to {}/{repo}; no manifest was pushed, so the registry holds no broken image \
             (running the push again uploads only what is missing)",
            client.registry()
        )));
    }
    bar.finish();
    let c = counts.into_inner().unwrap_or_else(|p| p.into_inner());
    c.say_uploaded();
    Ok(c)
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
