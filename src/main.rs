//! `cargo-slim-image`: parse the command line, run the library, print the error chain, pick the exit code.

use cargo_slim_image::cli::{parse_from, CargoCli};

fn main() {
    cargo_slim_image::ui::redact_panics();
    let CargoCli::SlimImage(cli) = parse_from(std::env::args_os());
    if let Err(err) = cargo_slim_image::run(&cli) {
        cargo_slim_image::ui::print_error(&err);
        std::process::exit(cargo_slim_image::exit_code(&cli, &err));
    }
}
