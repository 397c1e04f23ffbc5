#!/usr/bin/env python3
"""The size and speed targets of scripts/bench.sh (issue 14), each printed with PASS or FAIL.

1. ripgrep built from source with its own release profile (which keeps DWARF) by `cargo slim-image` with
   default settings: image (sum of its compressed layers) at most 2.5 MB.
2. static-web-server from crates.io, default settings: image at most `gzip -9` of the binary in the
   image + 110 KB (the binary is read back out of the app layer).
3. The 34 MB ripgrep binary with DWARF packaged with `--binary` (from the main benchmark's results,
   same run): at most 0.5x umoci's wall time, and an image at most 0.3x the size of umoci's.

The "after" image of each crate is the one bench.sh built from source with default settings (its
`--message-format json` report and layout); the "before" image, for README's before/after table, packages
that same built binary with `--binary BIN --debuginfo keep --compression-level 4` (the defaults until
issue 14): the same layers a from-source build with those flags makes, without a second cargo build
(static-web-server's top crate is rebuilt by every cargo run here, minutes with its fat LTO).
"""

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def manifest(report):
    """The one manifest of a one-image, one-platform JSON report."""
    (img,) = report["images"]
    (man,) = img["manifests"]
    return man


def before(slim, binary, target):
    """`cargo slim-image --binary BIN --debuginfo keep --compression-level 4`: its manifest report."""
    cmd = slim + ["--binary", binary, "--target-dir", target, "-o", f"{target}/layout", "--message-format",
                  "json", "-q", "--debuginfo", "keep", "--compression-level", "4"]
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr.decode(errors='replace')}")
    return manifest(json.loads(p.stdout))


def app_binary(layout, man):
    """The one file under usr/local/bin in the manifest's app layer (the last one)."""
    digest = man["layers"][-1]["digest"].split(":")[1]
    with open(os.path.join(layout, "blobs", "sha256", digest), "rb") as f:
        raw = gzip.decompress(f.read())
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        (m,) = [m for m in t.getmembers() if m.isfile() and m.name.startswith("usr/local/bin/")]
        return t.extractfile(m).read()


def check(label, ok, detail):
    log("")
    print(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slim", required=True)
    ap.add_argument("--crate", action="append", required=True,
                    help="NAME=REPORT:BINARY (the JSON report of its default build, the binary it built)")
    ap.add_argument("--results", required=True, help="the main benchmark's JSON (for the --binary target)")
    ap.add_argument("--large", default="large", help="the name of the 34 MB binary in --results")
    ap.add_argument("--work", required=True)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    slim = [a.slim, "slim-image"]
    os.makedirs(a.work, exist_ok=True)
    out = {}
    passed = []

    for spec in a.crate:
        name, rest = spec.split("=", 1)
        report_path, built = rest.split(":", 1)
        with open(report_path) as f:
            report = json.load(f)
        after = manifest(report)
        old = before(slim, built, os.path.join(a.work, f"{name}-before"))
        binary = app_binary(report["images"][0]["layout"], after)
        gz9 = len(subprocess.run(["gzip", "-9", "-n", "-c"], input=binary, capture_output=True,
                                 check=True).stdout)
        out[name] = {
            "after": {"image_bytes": after["compressed_size"],
                      "layers": [(l["role"], l["size"], l["uncompressed_size"], l.get("compression_level"))
                                 for l in after["layers"]]},
            "before": {"image_bytes": old["compressed_size"],
                       "layers": [(l["role"], l["size"], l["uncompressed_size"], l.get("compression_level"))
                                  for l in old["layers"]]},
            "binary_in_image_bytes": len(binary),
            "gzip9_of_binary_bytes": gz9,
        }
        log(f"{name}: before {old['compressed_size']} B, after {after['compressed_size']} B "
            f"(binary in the image {len(binary)} B, gzip -9 {gz9} B); layers {out[name]['after']['layers']}")

    rg = out["ripgrep"]["after"]["image_bytes"]
    passed.append(check("ripgrep from source, default settings: image <= 2.5 MB", rg <= 2_500_000,
                        f"{rg} B ({rg / 1e6:.3f} MB)"))
    if "static-web-server" in out:
        s = out["static-web-server"]
        limit = s["gzip9_of_binary_bytes"] + 110_000
        img = s["after"]["image_bytes"]
        passed.append(check("static-web-server: image <= gzip -9 of its binary + 110 KB", img <= limit,
                            f"{img} B, gzip -9 of the binary {s['gzip9_of_binary_bytes']} B + 110000 = "
                            f"{limit} B (margin {limit - img} B)"))
    else:
        passed.append(check("static-web-server: image <= gzip -9 of its binary + 110 KB", False,
                            "not measured (no static-web-server source)"))

    with open(a.results) as f:
        res = json.load(f)
    big = res["binaries"][a.large]
    o, u = big["ours"], big["umoci"]
    wall, size = o["wall"] / u["wall"], o["image_bytes"] / u["image_bytes"]
    passed.append(check(f"--binary {big['bytes'] / 1e6:.1f} MB ripgrep with DWARF: time <= 0.5x umoci's",
                        wall <= 0.5, f"{o['wall']:.3f} s vs umoci {u['wall']:.3f} s = {wall:.2f}x"))
    passed.append(check(f"--binary {big['bytes'] / 1e6:.1f} MB ripgrep with DWARF: image <= 0.3x umoci's",
                        size <= 0.3, f"{o['image_bytes']} B vs umoci {u['image_bytes']} B = {size:.2f}x"))
    out["binary"] = {"wall_ratio": wall, "size_ratio": size}
    out["passed"] = all(passed)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)
    sys.exit(0 if all(passed) else 1)


if __name__ == "__main__":
    main()
