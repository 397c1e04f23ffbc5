//! `cargo-slim-image`: parse the command line, run the library, print the error chain, pick the exit code.
//! With `SLIM_IMAGE_RUSTC_WRAPPER` set and a first argument other than `slim-image`, cargo is running
//! us as its rustc wrapper for a build of ours (see `compile::wrapper::config`): that is checked
//! first, before any argument is parsed.

use cargo_slim_image::cli::CargoCli;

fn main() {
    use cargo_slim_image::compile::wrapper;
    // Before anything else (no thread runs yet): the signing key variables leave the environment.
    cargo_slim_image::sign::take_from_process();
    if let Some(config) = wrapper::config() {
        let Err(err) = wrapper::run(&config);
        // Not eprintln!: a stderr whose reader is gone must not turn this error into a panic.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("error: cargo-slim-image as rustc wrapper: {err:#}\n").as_bytes(),
        );
        std::process::exit(1);
    }
    cargo_slim_image::ui::redact_panics();
    let CargoCli::SlimImage(cli) = cargo_slim_image::parse_args(std::env::args_os());
    if let Err(err) = cargo_slim_image::run(&cli) {
        cargo_slim_image::ui::print_error(&err);
        std::process::exit(cargo_slim_image::exit_code(&cli, &err));
    }
}
