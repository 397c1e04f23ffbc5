//! cargo slim-image: turn a Rust workspace into the smallest possible, reproducible OCI image.
//!
//! The pipeline, in module order: `cli` arguments -> `config` (cargo metadata + the
//! `[*.metadata.slim-image]` tables, resolved once) -> `plan` (images, binaries, platforms, sinks) ->
//! [`compile`] (static musl builds) + [`elf`] (static checks) -> `rootfs` + `layer` (deterministic tar.gz
//! layers) -> `image` (config, manifest, index as canonical JSON in a [`blob::BlobStore`]) -> [`sink`]
//! (OCI layout, oci-archive / docker-archive, load, push through [`registry`]) -> `report` (stdout).

pub mod base;
pub mod bigbuf;
pub mod blob;
pub mod bounded;
pub mod cli;
pub mod compile;
pub mod completions;
pub mod compress;
pub mod config;
pub mod debuginfo;
pub mod digest;
pub mod elf;
pub mod execute;
pub mod host;
pub mod image;
pub mod index_cmd;
pub mod k8s;
pub mod layer;
pub mod layer_cache;
pub mod plan;
pub mod platform;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod rootfs;
pub mod sbom;
pub mod secret_env;
pub mod sign;
pub mod sink;
pub mod size;
pub mod tar;
pub mod ui;
pub mod units;
pub mod user_cache;
pub mod verify;

/// Run `cargo slim-image` with parsed arguments: resolve the plan, then print it (`--dry-run`) or
/// execute it. Results go to stdout, everything else to stderr.
pub fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    ui::set_level(if cli.quiet { -1 } else { cli.verbose as i8 });
    ui::colour::set(cli.color)?;
    registry::credentials::remember_known(&registry::CredentialEnv::from_process());
    reference::refuse_credentials("--push", &cli.push)?;
    reference::refuse_credentials("--tag", &cli.tag)?;
    match &cli.command {
        Some(cli::Command::Index(args)) => return index_cmd::run(args, cli),
        Some(cli::Command::Resolve(args)) => return k8s::resolve(args, cli),
        Some(cli::Command::InitK8s(args)) => return k8s::init(args, cli),
        Some(cli::Command::Verify(args)) => return verify::run(args, cli),
        Some(cli::Command::Debuginfo(args)) => return debuginfo::fetch::run(args, cli),
        Some(cli::Command::Completions { shell }) => return completions::print(*shell),
        None => {}
    }
    let plan = resolve::resolve(cli)?;
    if cli.dry_run {
        // The key is checked as a real run checks it (read, nothing signed): a CI job's dry run
        // finds a bad key, or --sign-key without --push, before its release run does.
        sign::for_plan(&plan, cli)?;
        print!("{}", dry_run_text(cli, plan.describe(), &plan.to_json()));
        return Ok(());
    }
    let report = execute::execute(&plan, cli)?;
    ui::status_lines(&report.summary());
    let results = report.stdout(cli.message_format == cli::MessageFormat::Json);
    if cli.tarball.as_deref().is_some_and(sink::archive::is_stdout) {
        // `--tarball -` (or /dev/stdout): stdout carried the tarball, so the result lines go to stderr.
        eprint!("{results}");
    } else {
        print!("{results}");
    }
    Ok(())
}

/// The exit status of a run that failed with `err`: 1, but for `verify` 1 only when the image did
/// not match and 2 when the check could not be made ([`verify::exit_code`]).
pub fn exit_code(cli: &cli::Cli, err: &anyhow::Error) -> i32 {
    match cli.command {
        Some(cli::Command::Verify(_)) => verify::exit_code(err),
        _ => 1,
    }
}

/// What `--dry-run` prints on stdout: `text`, or `json` as one canonical JSON document with
/// `--message-format json`.
pub fn dry_run_text(cli: &cli::Cli, text: String, json: &serde_json::Value) -> String {
    if cli.message_format == cli::MessageFormat::Json {
        let mut s = String::from_utf8(blob::canonical_json(json)).unwrap_or_default();
        s.push('\n');
        s
    } else {
        text
    }
}
