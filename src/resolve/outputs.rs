//! Output paths of a plan: where each image's OCI layout goes, the tarball, and the references to
//! push to; bad paths are refused here, before anything is built or written.

use crate::cli::Cli;
use crate::plan::Plan;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Refuse output paths that cannot work before anything is built, so a bad path never leaves a
/// layout written and a tarball missing.
fn check_output_paths(cli: &Cli) -> Result<()> {
    let (cli, json) = (
        &cli.output,
        cli.message_format == crate::cli::MessageFormat::Json,
    );
    if let Some(o) = &cli.output {
        if o.exists() && !o.is_dir() {
            bail!("--output {} exists and is not a directory: give a directory path (the OCI layout is a directory), or remove the file", o.display());
        }
        if let Some(file) = first_file_ancestor(o) {
            bail!(
                "--output {}: {} is a file, so the directory cannot be created there",
                o.display(),
                file.display()
            );
        }
    }
    if let Some(r) = &cli.image_refs {
        crate::sink::refs::check(r)?;
    }
    let tarball = cli.tarball.as_deref();
    if let Some(t) = tarball.filter(|t| crate::sink::archive::is_stderr_pipe(t)) {
        bail!("--tarball {} writes into the pipe that stderr goes to too (`2>&1`), so the run's progress and errors would be mixed into the tarball: send stderr elsewhere (`2>build.log`) or write the tarball to a file", t.display());
    }
    if tarball.is_some_and(crate::sink::archive::is_stdout) {
        // stdout carries the tarball only: the result lines go to stderr (see lib.rs), and a JSON
        // report would have nowhere to go.
        if json {
            bail!("--tarball - writes the tarball to stdout, so --message-format json has nowhere to go: drop one of them, or write the tarball to a file");
        }
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!("--tarball - writes the tarball to stdout, which is a terminal: pipe it, e.g. `cargo slim-image --tarball - | podman load`");
        }
    } else if let Some(t) = &cli.tarball {
        if t.is_dir() {
            bail!(
                "--tarball {} is a directory: give a file path such as {}/image.tar",
                t.display(),
                t.display()
            );
        }
        if let Some(file) = first_file_ancestor(t) {
            bail!(
                "--tarball {}: {} is a file, so the tarball cannot be written there",
                t.display(),
                file.display()
            );
        }
    }
    Ok(())
}

/// Where `p` leads: absolute, each component's symlink followed in turn as the kernel does (a
/// dangling one too, and the rest of the path taken from its target: an output is written where
/// it points), then `.` and `..` applied, so two spellings of one place compare equal and a link
/// cannot hide that an output goes into the blob cache or the layout. At most 40 links are
/// followed (as the kernel); the write refuses more.
fn normalized(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    // The components still to walk, last first.
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    let push_all = |todo: &mut Vec<std::ffi::OsString>, path: &Path| {
        for c in path.components().rev() {
            match c {
                Component::Normal(n) => todo.push(n.to_os_string()),
                Component::ParentDir => todo.push("..".into()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
    };
    push_all(&mut todo, &abs);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(n) = todo.pop() {
        if n == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&n);
        let link = match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() && links < 40 => std::fs::read_link(&next).ok(),
            _ => None,
        };
        match link {
            Some(target) => {
                links += 1;
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                push_all(&mut todo, &target);
            }
            None => out = next,
        }
    }
    out
}

/// The tarball cannot be the layout directory or inside it: the layout replaces its whole directory,
/// so one of the two would be lost. Refused before anything is built.
fn check_tarball_outside(flag: &str, tarball: &Path, layout: &Path, what: &str) -> Result<()> {
    if crate::sink::archive::is_stdout(tarball) {
        return Ok(());
    }
    let (t, l) = (normalized(tarball), normalized(layout));
    if l.starts_with(&t) && t != l {
        bail!(
            "{what} {} is inside {flag} {}: one path cannot be both a file and a directory \
             holding the layout; give them two separate paths",
            layout.display(),
            tarball.display()
        );
    }
    if t.starts_with(&l) {
        bail!(
            "{flag} {} is {} {} of this image: the layout replaces its whole directory, so the \
             file would be lost; write it beside it, e.g. {flag} {}.{}",
            tarball.display(),
            if t == l { "the same path as" } else { "inside" },
            if what == "--output" {
                "--output"
            } else {
                "the output directory"
            },
            layout.display(),
            if flag == "--tarball" {
                "tar"
            } else {
                "refs.txt"
            },
        );
    }
    Ok(())
}

/// No output goes into the blob cache (`<target-dir>/slim-image/.cache`): it would replace cached
/// blobs or leave files the cache does not know. Refused before anything is built.
fn check_outside_cache(p: &Path, what: &str, cache: &Path) -> Result<()> {
    if normalized(p).starts_with(normalized(cache)) {
        bail!(
            "{what} {} is inside the blob cache {} (cargo slim-image keeps its blobs there, and an \
             output would replace or mix with them): give a path outside it, e.g. {}",
            p.display(),
            cache.display(),
            cache
                .parent()
                .map_or_else(|| PathBuf::from("image"), |d| d.join("image"))
                .display()
        );
    }
    Ok(())
}

/// The tarball cannot be one of the files written beside the layout (SBOM, provenance, debug
/// files, [`crate::sink::beside::planned`]): one would overwrite the other. Refused before anything
/// is built.
fn check_tarball_not_beside(
    flag: &str,
    tarball: &Path,
    img: &crate::plan::ImageSpec,
) -> Result<()> {
    if crate::sink::archive::is_stdout(tarball) {
        return Ok(());
    }
    let t = normalized(tarball);
    for f in crate::sink::beside::planned(img) {
        if normalized(&f.path) == t {
            bail!(
                "{flag} {} is where the {} goes (beside the layout {}): give it another name, \
                 e.g. {}.tar, or use {}",
                tarball.display(),
                f.noun,
                img.layout.display(),
                img.layout.display(),
                f.off_flag()
            );
        }
    }
    Ok(())
}

/// The nearest existing ancestor of `p` (excluding `p`), when it is not a directory.
fn first_file_ancestor(p: &Path) -> Option<PathBuf> {
    p.ancestors()
        .skip(1)
        .find(|a| a.exists())
        .filter(|a| !a.is_dir())
        .map(Path::to_path_buf)
}

/// The directory an output at `p` is made in (its symlink followed: the nearest existing ancestor
/// of where it goes) must be writable, as the output is written to a temp beside it. Checked before
/// anything is built, so a run never builds for minutes and then cannot write, nor leaves one
/// output written and the next missing. A FIFO or device is written into and not checked here.
fn check_writable(flag: &str, p: &Path) -> Result<()> {
    if std::fs::metadata(p).is_ok_and(|m| crate::sink::commit::is_special(m.file_type())) {
        return Ok(());
    }
    let followed = crate::sink::commit::follow_links(p)?;
    let abs = std::path::absolute(&followed).unwrap_or(followed);
    let parent = crate::sink::commit::parent_of(&abs);
    let Some(dir) = parent.ancestors().find(|a| a.exists()) else {
        return Ok(());
    };
    use rustix::fs::Access;
    if let Err(e) = rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK) {
        bail!(
            "{flag} {}: cannot write in {} ({}), where the output and its temp go: give a path in a \
             directory you can write, or make {} writable; nothing was built or written",
            p.display(),
            dir.display(),
            std::io::Error::from(e),
            dir.display()
        );
    }
    Ok(())
}

/// An output is renamed into place, and a mount point (a volume such as `docker run -v
/// $PWD/out:/out`, a file bind-mounted on its own) cannot be renamed over (EBUSY): refused before
/// anything is built instead of failing after the build. A mount root is told by statx
/// (`STATX_ATTR_MOUNT_ROOT`, Linux 5.8), else by a device other than its parent's.
fn check_not_a_mount(flag: &str, p: &Path) -> Result<()> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, CWD};
    use std::os::unix::fs::MetadataExt;
    let followed = crate::sink::commit::follow_links(p)?;
    let Ok(meta) = std::fs::symlink_metadata(&followed) else {
        return Ok(());
    };
    if crate::sink::commit::is_special(meta.file_type()) {
        return Ok(());
    }
    let flags = AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW;
    let root = match rustix::fs::statx(CWD, &followed, flags, StatxFlags::empty()) {
        Ok(x) if x.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            x.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        _ => {
            let abs = std::path::absolute(&followed).unwrap_or_else(|_| followed.clone());
            let parent = std::fs::metadata(crate::sink::commit::parent_of(&abs));
            parent.is_ok_and(|m| m.dev() != meta.dev())
        }
    };
    if root {
        let inside = if meta.is_dir() {
            format!("a path inside it, e.g. {}", p.join("image").display())
        } else {
            "another path".to_string()
        };
        bail!(
            "{flag} {} is a mount point (a volume or bind mount), and an output is renamed into \
             place, which a mount point does not allow: give {inside}; nothing was built or written",
            p.display()
        );
    }
    Ok(())
}

/// No two images of one run write the same path (layout, or a file beside it): two packages with
/// the same `name`, or names that map to one directory (`x/app`, `y/app` and `x_app`), would
/// replace each other's output. Refused before anything is built.
fn check_distinct(plan: &Plan) -> Result<()> {
    let mut seen: Vec<(PathBuf, &str)> = Vec::new();
    for img in &plan.images {
        let mut paths = vec![normalized(&img.layout)];
        paths.extend(
            crate::sink::beside::planned(img)
                .iter()
                .map(|f| normalized(&f.path)),
        );
        for p in paths {
            if let Some((_, other)) = seen.iter().find(|(q, _)| *q == p) {
                bail!(
                    "the images {other} and {} would both be written to {}: give each package its \
                     own `name` in [package.metadata.slim-image], or build them in separate runs \
                     with -p and -o",
                    img.name,
                    p.display()
                );
            }
            seen.push((p, &img.name));
        }
    }
    Ok(())
}

/// What the run reads from files: the `--binary` files, the files copied into images, base
/// layouts and archives, the signing key and the manifest, each with what it is (for messages).
fn inputs(plan: &Plan) -> Vec<(&'static str, &Path)> {
    use crate::base::BaseSource;
    let mut v: Vec<(&'static str, &Path)> = Vec::new();
    for img in &plan.images {
        v.extend(
            img.binaries
                .iter()
                .filter_map(|b| b.prebuilt.as_deref())
                .map(|p| ("--binary", p)),
        );
        v.extend(
            img.files
                .iter()
                .map(|f| ("the file copied into the image", f.src.as_path())),
        );
        if let BaseSource::OciDir(p, _)
        | BaseSource::OciArchive(p, _)
        | BaseSource::DockerArchive(p, _) = &img.base
        {
            v.push(("the base image", p));
        }
    }
    v.extend(plan.sign_key.as_deref().map(|p| ("the signing key", p)));
    let manifest = plan.cargo.as_ref().and_then(|c| c.manifest_path.as_deref());
    v.extend(manifest.map(|p| ("--manifest-path", p)));
    v
}

/// No output replaces what the same run reads (`--base oci:DIR -o DIR`, `--base
/// oci-archive:F --tarball F`, `--binary F --tarball F`, `--tarball` at the signing key): the
/// input would be gone, or the next run would build on its own output. Refused before anything is
/// built; so is an input inside the layout directory (the layout replaces it whole) and an output
/// inside an input directory (a base layout, which it would make no layout).
fn check_not_an_input(plan: &Plan) -> Result<()> {
    let inputs: Vec<(&str, &Path, PathBuf)> = inputs(plan)
        .into_iter()
        .map(|(what, p)| (what, p, normalized(p)))
        .collect();
    for img in &plan.images {
        let mut outputs: Vec<(String, &Path)> = vec![("the output directory".into(), &img.layout)];
        let beside = crate::sink::beside::planned(img);
        outputs.extend(beside.iter().map(|f| {
            (
                format!("the {} beside the layout", f.noun),
                f.path.as_path(),
            )
        }));
        let files = [
            ("--tarball", &img.tarball),
            ("--image-refs", &plan.image_refs),
        ];
        for (flag, f) in files
            .iter()
            .filter_map(|(n, f)| f.as_deref().map(|f| (*n, f)))
        {
            if !crate::sink::archive::is_stdout(f) {
                outputs.push((flag.to_string(), f));
            }
        }
        for (out_what, out) in outputs {
            let o = normalized(out);
            for (in_what, input, i) in &inputs {
                let how = if i.starts_with(&o) {
                    "would replace"
                } else if o.starts_with(i) {
                    "would be written inside"
                } else {
                    continue;
                };
                bail!(
                    "{out_what} {} {how} {in_what} {}, which this run reads: give the output \
                     another path",
                    out.display(),
                    input.display()
                );
            }
        }
    }
    Ok(())
}

pub(super) fn assign_outputs(plan: &mut Plan, cli: &Cli) -> Result<()> {
    let many = plan.images.len() > 1;
    if many && !cli.build.tag.is_empty() {
        bail!("--tag names one image, but this run builds {} images: pick one with --bin or -p, or set `name` per package in Cargo.toml", plan.images.len());
    }
    if many && cli.output.tarball.is_some() {
        bail!(
            "--tarball writes one image, but this run builds {} images: pick one with --bin or -p",
            plan.images.len()
        );
    }
    check_output_paths(cli)?;
    let cli = &cli.output;
    let names: Vec<String> = plan.images.iter().map(|i| i.name.clone()).collect();
    let cache = plan.target_dir.join("slim-image").join(".cache");
    let count = plan.images.len();
    for (i, img) in plan.images.iter_mut().enumerate() {
        let dir_name = dir_name(&names, i);
        img.layout = match (&cli.output, many) {
            (Some(o), false) => o.components().collect(),
            (Some(o), true) => o.join(&dir_name),
            (None, _) => plan.target_dir.join("slim-image").join(&dir_name),
        };
        // Nothing of the user's is replaced: only a new path, an empty directory or a layout.
        let what = match (&cli.output, many) {
            (Some(_), false) => "--output",
            _ => "the output directory",
        };
        check_outside_cache(&img.layout, what, &cache)?;
        crate::sink::layout::check_replaceable(&img.layout, what)?;
        check_writable(what, &img.layout)?;
        check_not_a_mount(what, &img.layout)?;
        check_file_outputs(cli, img, what, &cache)?;
        // Nor is a file of the user's beside the layout (see sink::beside).
        crate::sink::beside::check_planned(img)?;
        img.tarball = cli.tarball.clone();
        for target in &cli.push {
            super::push_targets::add(img, target, many, count)?;
        }
        img.push.dedup();
    }
    check_distinct(plan)?;
    check_not_an_input(plan)
}

/// The directory name of image `i` of `names` under the output directory: its short name, or its
/// whole name with `/` and `:` replaced where another image has the same short name.
fn dir_name(names: &[String], i: usize) -> String {
    let name = &names[i];
    let short = short_name(name);
    let clash = names
        .iter()
        .enumerate()
        .any(|(j, n)| j != i && short_name(n) == short);
    if clash {
        name.replace(['/', ':'], "_")
    } else {
        short.to_string()
    }
}

/// The file outputs (the tarball, the --image-refs list) of `img`, whose layout is checked as
/// `what`: each is outside the layout and none of the files written beside it (SBOM, provenance,
/// debug files); a file one is also outside the cache, writable and no mount point; and the two
/// are not one file.
fn check_file_outputs(
    cli: &crate::cli::OutputArgs,
    img: &crate::plan::ImageSpec,
    what: &str,
    cache: &Path,
) -> Result<()> {
    // A file output (the tarball, the --image-refs list) is no other output's path: written
    // later, it would replace that output, or (inside the layout) make it no layout.
    let files = [
        ("--tarball", &cli.tarball),
        ("--image-refs", &cli.image_refs),
    ];
    for (flag, t) in files
        .iter()
        .filter_map(|(f, t)| t.as_ref().map(|t| (*f, t)))
    {
        check_tarball_outside(flag, t, &img.layout, what)?;
        check_tarball_not_beside(flag, t, img)?;
        if !crate::sink::archive::is_stdout(t) {
            check_outside_cache(t, flag, cache)?;
            check_writable(flag, t)?;
            check_not_a_mount(flag, t)?;
        }
    }
    if let (Some(t), Some(r)) = (&cli.tarball, &cli.image_refs) {
        if !crate::sink::archive::is_stdout(t) && normalized(t) == normalized(r) {
            bail!(
                "--image-refs {} is the same file as --tarball {}: the list would replace the \
                 tarball; give them two paths, e.g. --image-refs refs.txt",
                r.display(),
                t.display()
            );
        }
    }
    Ok(())
}
