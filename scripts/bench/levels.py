#!/usr/bin/env python3
"""`scripts/bench.sh --levels`: the gzip level curve, per input size and core count.

For every input binary, every level (--levels) and every thread count (--threads), packages the binary
with `cargo slim-image --binary BIN --debuginfo keep --compression-level L` and
`SLIM_IMAGE_COMPRESSION_THREADS=T`, and records the compressed size of the layer that holds the binary
and the median wall and CPU time of the run (--runs runs). This is the measurement behind the default
level by layer size (src/compress.rs, GZIP_LEVEL_BY_SIZE; README "Compression level by layer size").

What the times hold: each run starts from a copy of a target directory whose layer cache already holds
the base-files layer at that level (made by packaging another binary), so the only layer compressed is
the binary's, from a cold layer cache, as in a first build. The fixed cost of a run (start-up, the
image's JSON, the layout) is measured the same way on a run where every layer is cached, and printed;
it is not subtracted.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (run(), layout_layers(), LAUNCH and CPU, shared with the main benchmark)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slim", required=True)
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--levels", default="1,4,6,9,10,11,12")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", required=True)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    levels = [int(x) for x in a.levels.split(",")]
    threads = [int(x) for x in a.threads.split(",")]
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    slim = [a.slim, "slim-image"]
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    bench.LAUNCH[0] = statistics.median([bench.run(["true"])[0] for _ in range(7)])

    bins = []
    for spec in a.bin:
        name, path = spec.split("=", 1)
        bins.append((name, os.path.abspath(path)))
    # The binary that warms each level's template: the first input with one byte more, so that its
    # app layer is never the one measured.
    warm_bin = os.path.join(work, "warm-bin")
    with open(bins[0][1], "rb") as f, open(warm_bin, "wb") as g:
        g.write(f.read() + b"\0")
    os.chmod(warm_bin, 0o755)

    def package(binary, target, level, t):
        e = dict(env, SLIM_IMAGE_COMPRESSION_THREADS=str(t))
        c0 = bench.CPU[0]
        w, _, _ = bench.run(slim + ["--binary", binary, "-t", "levels:1", "--debuginfo", "keep",
                                    "--compression-level", str(level), "--target-dir", target,
                                    "-o", f"{target}/layout", "-q"], env=e)
        return w, bench.CPU[0] - c0, bench.layout_layers(f"{target}/layout")[-1][0]

    templates = {}
    fixed = {}
    for level in levels:
        t = os.path.join(work, f"template-{level}")
        package(warm_bin, t, level, 1)
        shutil.rmtree(f"{t}/layout")
        templates[level] = t
        walls = []
        for _ in range(a.runs):
            d = tempfile.mkdtemp(prefix="fixed-", dir=work)
            shutil.copytree(t, f"{d}/t", symlinks=True)
            walls.append(package(warm_bin, f"{d}/t", level, 1)[0])  # every layer cached: the fixed cost
            shutil.rmtree(d)
        fixed[level] = statistics.median(walls)

    results = {"cores": os.cpu_count(), "runs": a.runs, "fixed_wall_s": statistics.median(fixed.values()),
               "inputs": {}}
    for name, path in bins:
        size = os.path.getsize(path)
        bench.log(f"== {name}: {path} ({size / 1e6:.2f} MB)")
        r = {"path": path, "bytes": size, "levels": {}}
        for level in levels:
            row = {}
            for t in threads:
                walls, cpus, sizes = [], [], []
                for _ in range(a.runs):
                    d = tempfile.mkdtemp(prefix=f"{name}-", dir=work)
                    shutil.copytree(templates[level], f"{d}/t", symlinks=True)
                    w, c, s = package(path, f"{d}/t", level, t)
                    walls.append(w)
                    cpus.append(c)
                    sizes.append(s)
                    shutil.rmtree(d)
                if len(set(sizes)) != 1:
                    raise RuntimeError(f"{name} level {level}: the layer size changed between runs: {sizes}")
                row[str(t)] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus),
                               "layer_bytes": sizes[0]}
            sizes = {v["layer_bytes"] for v in row.values()}
            if len(sizes) != 1:
                raise RuntimeError(f"{name} level {level}: the layer depends on the thread count: {row}")
            r["levels"][str(level)] = row
            bench.log(f"  level {level:2}: {sizes.pop()} B, " +
                      ", ".join(f"{t} thread(s) {v['wall']:.3f} s" for t, v in row.items()))
        results["inputs"][name] = r
    with open(a.json, "w") as f:
        json.dump(results, f, indent=2)
    print_table(results, levels, threads)
    bench.log(f"JSON: {a.json}")


def print_table(res, levels, threads):
    head = ["input", "level", "layer bytes", "vs level 12"]
    head += [f"wall s, {t} thread{'s' if t > 1 else ''}" for t in threads] + ["CPU s"]
    rows = [head]
    for name, r in res["inputs"].items():
        best = r["levels"].get("12", r["levels"][str(max(levels))])[str(threads[0])]["layer_bytes"]
        for i, level in enumerate(levels):
            row = r["levels"][str(level)]
            n = row[str(threads[0])]["layer_bytes"]
            rows.append([f"{name} ({r['bytes'] / 1e6:.1f} MB)" if i == 0 else "", str(level), str(n),
                         f"{(n / best - 1) * 100:+.1f}%"] + [f"{row[str(t)]['wall']:.3f}" for t in threads] +
                        [f"{row[str(threads[0])]['cpu']:.2f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    print(f"\nwall and CPU (user + sys, with {threads[0]} thread{'s' if threads[0] > 1 else ''}) include the fixed "
          f"cost of a run, {res['fixed_wall_s']:.3f} s wall here (every layer cached); {res['cores']} cores, load "
          f"average {os.getloadavg()[0]:.1f} at the end; median of {res['runs']} runs")


if __name__ == "__main__":
    main()
