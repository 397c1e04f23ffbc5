//! The fuzz targets' properties (fuzz/checks.rs) on stable Rust: every seed in `fuzz/seeds/<target>/`
//! and every past finding in `fuzz/findings/<target>/` is replayed, then a bounded, seeded mutation
//! run over the seeds (byte flips, inserts, deletes, splices, and tokens that parsers care about)
//! catches regressions between the real `cargo fuzz` runs of scripts/fuzz.sh.
//!
//! Findings also get a named test below, so the failure says what broke.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::PathBuf;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("reference", checks::reference),
    ("www_authenticate", checks::www_authenticate),
    ("manifest", checks::manifest),
    ("tar_layer", checks::tar_layer),
    ("docker_manifest", checks::docker_manifest),
];

fn inputs(dir: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(rd) = std::fs::read_dir(&d) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn seeds_and_past_findings_pass() {
    for (t, check) in TARGETS {
        let seeds = inputs("seeds", t);
        assert!(!seeds.is_empty(), "fuzz/seeds/{t} is empty");
        for (p, bytes) in seeds.iter().chain(inputs("findings", t).iter()) {
            let r = std::panic::catch_unwind(|| check(bytes));
            assert!(r.is_ok(), "{t}: {} fails", p.display());
        }
    }
}

/// Tokens worth splicing in: separators and syntax the parsers branch on.
const TOKENS: [&str; 28] = [
    ":",
    "/",
    "@",
    "sha256:",
    "\"",
    "\\",
    ",",
    "=",
    " ",
    "{",
    "}",
    "[",
    "]",
    "null",
    "0",
    "-1",
    "1e999",
    "\u{0}",
    "é",
    "localhost:5000",
    "Bearer ",
    "realm=",
    "\"mediaType\":",
    "..",
    "1 x\n",
    "ustar\u{0}00",
    "./",
    "\"Layers\":",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next() as u8),
            2 if at < v.len() => {
                let n = rng.below(v.len() - at + 1);
                v.drain(at..at + n);
            }
            3 => {
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, tok.iter().copied());
            }
            _ => {
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                v.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    v
}

#[test]
fn seeded_mutations_of_the_seeds_pass() {
    let seed: u64 = std::env::var("SLIM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00f0_22ed);
    let iterations = 3000;
    for (t, check) in TARGETS {
        let seeds: Vec<Vec<u8>> = inputs("seeds", t).into_iter().map(|(_, b)| b).collect();
        let mut rng = Rng(seed | 1);
        for i in 0..iterations {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, a, b);
            let r = std::panic::catch_unwind(|| check(&input));
            assert!(
                r.is_ok(),
                "{t}: mutation {i} (SLIM_FUZZ_SEED={seed}) fails on {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

/// Found by the seeded mutation run: `localhost0G0/a/0b` names registry `localhost0G0` (upper-case
/// letters mark a registry), but was lower-cased and printed as `localhost0g0/a/0b`, which means
/// `docker.io/localhost0g0/a/0b`.
#[test]
fn regression_upper_case_dotless_registry_round_trips() {
    checks::reference(b"localhost0G0/a/0b");
    checks::reference(b"MyRegistry/app:1");
}

/// Issue 11: a PAX record `1 x` (a length shorter than its own prefix) made the old hand-written
/// tar reader slice `begin > end` and panic; a 256 MiB GNU long-name header made it read 256 MiB.
#[test]
fn regression_malformed_and_huge_tar_records_are_errors() {
    for seed in ["4", "6"] {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds/tar_layer")
            .join(seed);
        let bytes = std::fs::read(p).unwrap();
        checks::tar_layer(&bytes);
        let r = cargo_slim_image::base::tarread::for_each(&bytes[..], |_, _| Ok(()));
        assert!(r.is_err(), "seed {seed} was accepted");
    }
}
