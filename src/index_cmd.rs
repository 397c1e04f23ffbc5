//! `cargo slim-image index`: assemble an OCI image index from per-platform images that were built and
//! pushed on different machines (the way a release pipeline spreads work over runners).
//!
//! Takes `--push REF` (one or more) and the images (`REGISTRY/NAME:TAG` or `@sha256:...`, each an image
//! manifest or an index whose platforms are all taken). Reads each manifest and, for a plain manifest,
//! its config to learn the platform; refuses two images for one platform. Blobs the target repository
//! lacks are copied (mounted when the source is in the same registry) before the child manifests and
//! the index are pushed, so the registry never holds an index that points at something missing. Prints
//! `REF@sha256:...` per pushed reference on stdout.

use crate::blob::{media, Artifact, BlobStore, Descriptor, PlatformSpec};
use crate::digest::Digest;
use crate::image::{ConfigFile, Index, Manifest};
use crate::reference::Reference;
use crate::registry::Clients;
use crate::sink::push::{self, PushOptions};
use crate::ui;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `cargo slim-image index`, resolved: every reference parsed and checked.
#[derive(Debug, Clone)]
pub struct IndexPlan {
    /// Where to push the index (no digest pinned).
    pub targets: Vec<Reference>,
    /// The per-platform images (or indexes) to read.
    pub inputs: Vec<Reference>,
    /// The index's annotations.
    pub annotations: BTreeMap<String, String>,
    /// How registries are reached (the flags before `index` and its own).
    pub client: crate::registry::ClientOptions,
    /// `--sign-key` (the subcommand's, else the one before it); else the environment's.
    pub sign_key: Option<PathBuf>,
    /// `--dry-run`: print what would be read and pushed, contact no registry.
    pub dry_run: bool,
    /// `--message-format json`.
    pub json: bool,
}

/// One platform image found among the inputs.
struct Found {
    source: Reference,
    desc: Descriptor,
    bytes: Vec<u8>,
    manifest: Manifest,
}

/// Read one input image: its platform manifest(s).
fn read_input(r: &Reference, clients: &mut Clients, store: &BlobStore) -> Result<Vec<Found>> {
    let client = clients.get(&r.registry)?;
    let m = client
        .get_manifest(&r.repository, &r.tag_or_digest())
        .with_context(|| {
            format!("reading image {r}: was it pushed? (`skopeo inspect docker://{r}`)")
        })?;
    let mut out = Vec::new();
    if media::is_index(&m.media_type) {
        let index: Index = serde_json::from_slice(&m.bytes)
            .with_context(|| format!("parsing the index {} of {r}", m.digest))?;
        for d in index.manifests {
            let Some(p) = &d.platform else { continue };
            if p.os == "unknown" {
                continue; // attestations and other artifacts, not runnable images
            }
            let child = client
                .get_manifest(&r.repository, &d.digest.to_string())
                .with_context(|| format!("reading manifest {} of {r}", d.digest))?;
            let manifest: Manifest = serde_json::from_slice(&child.bytes)
                .with_context(|| format!("parsing manifest {} of {r}", d.digest))?;
            out.push(Found {
                source: r.clone(),
                desc: d,
                bytes: child.bytes,
                manifest,
            });
        }
        return Ok(out);
    }
    let manifest: Manifest = serde_json::from_slice(&m.bytes)
        .with_context(|| format!("parsing the manifest {} of {r}", m.digest))?;
    client
        .fetch_blob(&r.repository, &manifest.config, store)
        .with_context(|| format!("reading the config of {r}"))?;
    let config: ConfigFile = serde_json::from_slice(&store.read(&manifest.config.digest)?)
        .with_context(|| format!("parsing the config {} of {r}", manifest.config.digest))?;
    let mut desc = m.descriptor();
    desc.platform = Some(PlatformSpec::new(
        &config.os,
        &config.architecture,
        config.variant.as_deref(),
    ));
    out.push(Found {
        source: r.clone(),
        desc,
        bytes: m.bytes,
        manifest,
    });
    Ok(out)
}

/// What `index --dry-run` prints: the inputs it would read and the references it would push, as text
/// or JSON. No registry is contacted.
fn dry_run(plan: &IndexPlan) -> String {
    let (inputs, targets, annotations) = (&plan.inputs, &plan.targets, &plan.annotations);
    let list = |v: &[Reference]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    let mut text = String::from("index (dry run: no registry is contacted, nothing is pushed)\n");
    for r in inputs {
        text.push_str(&format!("  image:      {r}\n"));
    }
    for (k, v) in annotations {
        text.push_str(&format!("  annotation: {k}={v}\n"));
    }
    for r in targets {
        text.push_str(&format!("  push:       {r}\n"));
    }
    let json = serde_json::json!({
        "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        "dry_run": true,
        "command": "index",
        "images": list(inputs),
        "annotations": annotations,
        "push": list(targets),
    });
    crate::dry_run_text(plan.json, text, &json)
}

/// Every platform image of `inputs`, one per platform (two for one platform are refused).
fn read_all(inputs: &[Reference], clients: &mut Clients, store: &BlobStore) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();
    for r in inputs {
        for f in read_input(r, clients, store)? {
            let p = f
                .desc
                .platform
                .clone()
                .unwrap_or_else(|| PlatformSpec::new("unknown", "unknown", None));
            if let Some(prev) = found.iter().find(|g| g.desc.platform.as_ref() == Some(&p)) {
                bail!(
                    "two images for {}: {} ({}) and {} ({}); an index holds one image per platform",
                    p,
                    prev.source,
                    prev.desc.digest,
                    f.source,
                    f.desc.digest
                );
            }
            ui::status("Found", format!("{p} {}@{}", f.source, f.desc.digest));
            found.push(f);
        }
    }
    Ok(found)
}

/// Where each blob of the found images can be copied or mounted from.
fn blob_sources(found: &[Found]) -> BTreeMap<Digest, (Descriptor, Vec<Reference>)> {
    let mut sources: BTreeMap<Digest, (Descriptor, Vec<Reference>)> = BTreeMap::new();
    for f in found {
        for b in std::iter::once(&f.manifest.config).chain(&f.manifest.layers) {
            let e = sources.entry(b.digest.clone()).or_insert_with(|| {
                (
                    Descriptor::new(&b.media_type, b.digest.clone(), b.size),
                    Vec::new(),
                )
            });
            if !e.1.contains(&f.source) {
                e.1.push(f.source.clone());
            }
        }
    }
    sources
}

/// Run `cargo slim-image index`.
pub fn run(plan: &IndexPlan) -> Result<()> {
    if plan.dry_run {
        return crate::ui::stdout::results(&dry_run(plan), "nothing was read or pushed");
    }
    let (inputs, targets) = (&plan.inputs, &plan.targets);
    // A bad key fails before anything is read or pushed.
    let signer = crate::sign::from_env(plan.sign_key.as_deref(), crate::sign::env_var)?;
    let mut opts = push_options(plan);
    let mut clients = Clients::new(opts.client_options());
    // From here on temps are made: an interrupt removes them, this store in $TMPDIR (the images'
    // blobs may be large) as well as a staged output (see crate::sink::commit).
    crate::sink::commit::install_signal_cleanup()?;
    let tmp =
        crate::sink::commit::Temp::dir(&std::env::temp_dir(), crate::sink::commit::Kind::Layout)
            .context("creating a temp dir for the index's blobs")?;
    let store = BlobStore::open(tmp.path())?;

    let found = read_all(inputs, &mut clients, &store)?;
    if found.is_empty() {
        bail!("the images given hold no platform image to put in an index");
    }
    let (root, index) = store_index(plan, &found, &store)?;
    let sources = blob_sources(&found);
    opts.mount_from = sources
        .iter()
        .map(|(d, (_, refs))| (d.clone(), refs.clone()))
        .collect();
    let mut out = String::new();
    for t in targets {
        let blobs = copy_missing(&mut clients, &store, t, &sources)?;
        let artifact = Artifact {
            root: root.clone(),
            manifests: index.manifests.clone(),
            blobs,
        };
        for r in push::push_with(
            &mut clients,
            &artifact,
            &store,
            std::slice::from_ref(t),
            &opts,
        )? {
            out.push_str(&format!("{}@{}\n", r.reference, r.digest));
        }
        if let Some(s) = &signer {
            sign_index(&mut clients, &store, t, &root.digest, s.as_ref(), &opts)?;
        }
    }
    crate::ui::stdout::results(&out, "the index was pushed")
}

/// The push options of the plan's registry flags, with the user's mount memory.
fn push_options(plan: &IndexPlan) -> PushOptions {
    PushOptions {
        insecure_registries: plan.client.insecure_registries.clone(),
        registry_ca: plan.client.registry_ca.clone(),
        tuning: plan.client.tuning.clone(),
        mount_memory: crate::sink::mounts::MountMemory::in_user_cache(),
        ..Default::default()
    }
}

/// The index of the `found` platform images, put into `store` with their manifests; returns its
/// descriptor and the index.
fn store_index(
    plan: &IndexPlan,
    found: &[Found],
    store: &BlobStore,
) -> Result<(Descriptor, Index)> {
    let index = Index {
        schema_version: 2,
        media_type: Some(media::INDEX.to_string()),
        manifests: found.iter().map(|f| f.desc.clone()).collect(),
        annotations: plan.annotations.clone(),
        artifact_type: None,
        subject: None,
    };
    let (root, _) = store.put_json(media::INDEX, &index)?;
    // Children were fetched by digest (verified by get_manifest); a plain manifest's digest is the
    // hash of these bytes: the store gives back the same digests.
    for f in found {
        store.put_bytes(&f.desc.media_type, &f.bytes)?;
    }
    Ok((root, index))
}

/// Download into `store` the blobs of `sources` that target `t` lacks (the push then mounts or
/// uploads them); returns their descriptors.
fn copy_missing(
    clients: &mut Clients,
    store: &BlobStore,
    t: &Reference,
    sources: &BTreeMap<Digest, (Descriptor, Vec<Reference>)>,
) -> Result<Vec<Descriptor>> {
    let client = clients.get(&t.registry)?;
    let mut blobs = Vec::new();
    for (desc, refs) in sources.values() {
        let there = client
            .head_blob(&t.repository, &desc.digest)
            .with_context(|| format!("checking blob {} in {t}", desc.digest))?;
        if there.is_some() {
            continue;
        }
        let src = &refs[0];
        clients
            .get(&src.registry)?
            .fetch_blob(&src.repository, desc, store)
            .with_context(|| format!("copying blob {} from {src}", desc.digest))?;
        blobs.push(desc.clone());
    }
    Ok(blobs)
}

/// Sign the index `root` pushed to `t` with `signer` and attach the signature there.
fn sign_index(
    clients: &mut Clients,
    store: &BlobStore,
    t: &Reference,
    root: &Digest,
    signer: &dyn crate::sign::Signer,
    opts: &PushOptions,
) -> Result<()> {
    let full = format!("{}/{}", t.registry, t.repository);
    let layer = crate::sign::cosign::signature_layer(signer, &full, root)?;
    let signed = crate::sign::cosign::attach(
        clients,
        store,
        (&t.registry, &t.repository),
        root,
        "sig",
        vec![layer],
        opts,
    )?;
    ui::status(
        "Signed",
        format!("{full}@{root} ({}): {signed}", signer.describe()),
    );
    Ok(())
}
