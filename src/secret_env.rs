//! The environment variables that hold secrets of this tool (the signing key, its password) and the
//! scrub that keeps them, and the registry password, from every child process.
//!
//! Takes a [`std::process::Command`]; gives it back without those variables. A leaf: the build
//! (cargo, toolchain probes, the OpenSSL build) and signing both use it.

/// The variable holding a PEM key.
pub const KEY_VAR: &str = "SLIM_IMAGE_SIGNING_KEY";
/// The variable naming a key file.
pub const KEY_FILE_VAR: &str = "SLIM_IMAGE_SIGNING_KEY_FILE";

/// The password of an encrypted cosign.key.
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";

/// Signing variables no child process gets (cargo, build scripts, toolchain probes): a build script
/// could read the key or its password and print or send it.
pub const SECRET_VARS: [&str; 3] = [KEY_VAR, KEY_FILE_VAR, PASSWORD_VAR];

/// `cmd` without the secrets no child needs: [`SECRET_VARS`] and the registry password. For the
/// binary the signing variables are already gone (`sign::take_from_process`); this covers library
/// callers, and the password, which stays in this process for credential lookup.
pub fn without_secrets(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env_remove(crate::registry::credentials::PASSWORD_VAR);
    for k in SECRET_VARS {
        cmd.env_remove(k);
    }
    cmd
}
