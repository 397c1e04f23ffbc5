#!/usr/bin/env python3
"""What the release profile buys (issue 16, "Installing the tool"): build cargo-slim-image the way
`cargo install` does (release, --locked, a fresh target directory) with each candidate profile, time the
build, then time packaging the binaries that scripts/bench.sh prepared with each build.

    scripts/bench.sh --no-sws            # first: builds the tool (fat LTO today) and target/bench/bin/*
    python3 scripts/bench/profiles.py [--runs 5] [--variants thin-16,off-16]

The profile of each variant is set with cargo's own environment overrides (CARGO_PROFILE_RELEASE_LTO,
CARGO_PROFILE_RELEASE_CODEGEN_UNITS), so Cargo.toml is not edited. The variant that Cargo.toml holds is
measured too: its build time is the one bench.sh recorded in target/bench/tool-build.json when that build
was fresh, else it is built again here. Packaging runs are cold (a fresh --target-dir each: empty blob
store and layer cache), the median of --runs. Prints a Markdown table; writes target/bench/profiles.json.
Not run in CI; run it on a quiet machine (a parallel compiler makes the wall times meaningless).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = {
    # name: (lto, codegen-units)
    "fat-1": ("fat", "1"),
    "thin-16": ("thin", "16"),
    "off-16": ("false", "16"),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def declared(root):
    """The (lto, codegen-units) of [profile.release] in Cargo.toml, as VARIANTS spells them."""
    import tomllib
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        prof = tomllib.load(f).get("profile", {}).get("release", {})
    lto = prof.get("lto", False)
    lto = {True: "fat", False: "false"}.get(lto, lto)
    return str(lto), str(prof.get("codegen-units", 16))


def build(root, name, lto, cgu, out):
    tdir = os.path.join(out, name)
    shutil.rmtree(tdir, ignore_errors=True)
    env = dict(os.environ, CARGO_PROFILE_RELEASE_LTO=lto, CARGO_PROFILE_RELEASE_CODEGEN_UNITS=cgu,
               CARGO_TARGET_DIR=tdir)
    log(f"==> building {name} (lto={lto}, codegen-units={cgu}) in {tdir}")
    start = time.perf_counter()
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=root, env=env, check=True)
    secs = time.perf_counter() - start
    log(f"    {secs:.0f} s")
    return os.path.join(tdir, "release", "cargo-slim-image"), secs


def package(slim, binary, runs, work):
    walls = []
    for i in range(runs):
        d = tempfile.mkdtemp(prefix="prof-", dir=work)
        cmd = [slim, "slim-image", "--binary", binary, "-t", "bench-profile:1", "--target-dir",
               os.path.join(d, "t"), "-o", os.path.join(d, "layout"), "-q"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        shutil.rmtree(d)
    return statistics.median(walls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--variants", default="thin-16,off-16")
    a = ap.parse_args()
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    bench = os.path.join(root, "target", "bench")
    bins = {n: os.path.join(bench, "bin", n) for n in ("medium", "large")}
    for n, p in bins.items():
        if not os.path.exists(p):
            sys.exit(f"missing {p}: run scripts/bench.sh first (it builds the binaries)")
    out = os.path.join(bench, "profiles")
    work = os.path.join(bench, "profiles-work")
    os.makedirs(work, exist_ok=True)

    lto, cgu = declared(root)
    base = next((n for n, v in VARIANTS.items() if v == (lto, cgu)), f"lto-{lto}-{cgu}")
    results = {}
    rec = os.path.join(bench, "tool-build.json")
    prebuilt = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release",
                            "cargo-slim-image")
    tb = json.load(open(rec)) if os.path.exists(rec) else {}
    if tb.get("fresh") and os.path.exists(prebuilt):
        log(f"==> {base} (Cargo.toml): build time {tb['seconds']:.0f} s from {rec}")
        results[base] = {"lto": lto, "cgu": cgu, "build_s": tb["seconds"], "slim": prebuilt}
    else:
        slim, secs = build(root, base, lto, cgu, out)
        results[base] = {"lto": lto, "cgu": cgu, "build_s": secs, "slim": slim}
    for name in a.variants.split(","):
        if name == base:
            continue
        vl, vc = VARIANTS[name]
        slim, secs = build(root, name, vl, vc, out)
        results[name] = {"lto": vl, "cgu": vc, "build_s": secs, "slim": slim}
    for name, r in results.items():
        r["size_bytes"] = os.path.getsize(r["slim"])
        for b, path in bins.items():
            r[b] = package(r["slim"], path, a.runs, work)
            log(f"    {name}: packaging {b} {r[b]:.3f} s")
    shutil.rmtree(work, ignore_errors=True)

    b0 = results[base]
    print(f"\n{os.popen('rustc --version').read().strip()}, {os.cpu_count()} cores; packaging = cold "
          f"`--binary` into a layout, median of {a.runs}\n")
    print("| release profile | build (as `cargo install`) | tool size | packaging medium | packaging large |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| lto = {r['lto']}, codegen-units = {r['cgu']} | {r['build_s']:.0f} s "
              f"({r['build_s'] / b0['build_s']:.2f}x) | {r['size_bytes'] / 2**20:.1f} MiB | "
              f"{r['medium']:.3f} s ({r['medium'] / b0['medium']:.2f}x) | "
              f"{r['large']:.3f} s ({r['large'] / b0['large']:.2f}x) |")
    json.dump(results, open(os.path.join(bench, "profiles.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
