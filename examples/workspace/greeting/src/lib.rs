//! The words the `hello` and `bye` binaries of this example workspace say.
//!
//! Both take the name from their first argument, else `$NAME`, else `world`; see [`name_from`].

/// `hello, <name>`.
pub fn hello(name: &str) -> String {
    format!("hello, {name}")
}

/// `bye, <name>`.
pub fn bye(name: &str) -> String {
    format!("bye, {name}")
}

/// The name to greet: the first argument, else the `NAME` environment variable, else `world`.
pub fn name_from(mut args: impl Iterator<Item = String>) -> String {
    args.next()
        .or_else(|| std::env::var("NAME").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "world".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_the_words() {
        assert_eq!(hello("ferris"), "hello, ferris");
        assert_eq!(bye("ferris"), "bye, ferris");
        assert_eq!(name_from(["crab".to_string()].into_iter()), "crab");
    }
}
