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

/// Parse arguments as cargo passes them (`cargo-slim-image slim-image ...`), also accepting a direct
/// call without the subcommand name; cargo's help colours under the same choice as everything else.
/// A usage error exits (clap's status), its text redacted first.
pub fn parse_args<I, T>(args: I) -> cli::CargoCli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    use clap::{CommandFactory, FromArgMatches};
    let args = cli::as_cargo_runs_it(args);
    let command = cli::CargoCli::command()
        .styles(ui::colour::CLAP_STYLES)
        .color(ui::colour::for_clap(&args));
    match command
        .try_get_matches_from(&args)
        .and_then(|mut m| cli::CargoCli::from_arg_matches_mut(&mut m))
    {
        Ok(c) => c,
        // clap quotes the argument it could not place: `--sign-key "$(cat key.pem)"` (a value
        // starting with `-`) would print the key. Such arguments go to the redaction step first.
        Err(e) if e.use_stderr() => {
            let keys: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .filter(|a| a.contains("-----BEGIN"))
                .collect();
            if keys.is_empty() {
                e.exit()
            }
            keys.iter().for_each(|k| sign::key::remember_secret(k));
            ui::progress::print_line(ui::redact(&e.to_string()).trim_end_matches('\n'));
            std::process::exit(e.exit_code())
        }
        Err(e) => e.exit(),
    }
}

/// Run `cargo slim-image` with parsed arguments: resolve the job (every flag checked), then print
/// its plan (`--dry-run`) or run it. Results go to stdout, everything else to stderr.
pub fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    ui::set_level(if cli.quiet { -1 } else { cli.verbose as i8 });
    ui::colour::set(cli.color.map(resolve::flags::colour))?;
    registry::credentials::remember_known(&registry::CredentialEnv::from_process());
    match resolve::resolve(cli)? {
        resolve::Job::Build(plan) => build(&plan),
        resolve::Job::Index(p) => index_cmd::run(&p),
        resolve::Job::Resolve(p) => k8s::resolve(&p),
        resolve::Job::InitK8s(p) => k8s::init(&p),
        resolve::Job::Verify(p) => verify::run(&p),
        resolve::Job::Debuginfo(p) => debuginfo::fetch::run(&p),
        resolve::Job::Completions(shell) => {
            completions::print(<cli::CargoCli as clap::CommandFactory>::command(), shell)
        }
    }
}

/// Print the plan (`--dry-run`) or build it.
fn build(plan: &plan::Plan) -> anyhow::Result<()> {
    if plan.dry_run {
        // The key is checked as a real run checks it (read, nothing signed): a CI job's dry run
        // finds a bad key, or --sign-key without --push, before its release run does.
        sign::for_run(plan.sign_key.as_deref(), plan.pushes())?;
        let text = dry_run_text(plan.json, plan.describe(), &plan.to_json());
        return ui::stdout::results(&text, "nothing was built or written");
    }
    let report = execute::execute(plan)?;
    ui::status_lines(&report.summary());
    let results = report.stdout(plan.json);
    let to_stdout =
        |i: &plan::ImageSpec| i.tarball.as_deref().is_some_and(sink::archive::is_stdout);
    if plan.images.iter().any(to_stdout) {
        // `--tarball -` (or /dev/stdout): stdout carried the tarball, so the result lines go to stderr.
        ui::progress::print_line(results.trim_end_matches('\n'));
        Ok(())
    } else {
        ui::stdout::results(&results, "the outputs were written")
    }
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
/// `--message-format json` (`as_json`).
pub fn dry_run_text(as_json: bool, text: String, json: &serde_json::Value) -> String {
    if as_json {
        let mut s = String::from_utf8(blob::canonical_json(json)).unwrap_or_default();
        s.push('\n');
        s
    } else {
        text
    }
}
