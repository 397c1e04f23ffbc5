//! Prints `hello, <name>` (name: first argument, else `$NAME`, else `world`).

fn main() {
    let name = greeting::name_from(std::env::args().skip(1));
    println!("{}", greeting::hello(&name));
}
