#!/usr/bin/env python3
"""The benchmark behind scripts/bench.sh: cargo slim-image against umoci, buildah and skopeo.

Takes the three binaries (small, medium, large) that bench.sh prepared and, for each, packages it into an
OCI layout with `cargo slim-image --binary`, with umoci (init/new/unpack/repack/config, gzip) and with
buildah (from scratch/copy/config/commit into an oci: layout, gzip), then pushes the layout to a local
CNCF distribution registry with `cargo slim-image --push` and with `skopeo copy`, cold (a fresh, empty
registry) and warm (everything present). Every figure is the median of --runs runs: wall time (measured
here), peak RSS (the child's rusage; the max over the steps of a multi-step peer) and the compressed
size of the layer that holds the binary and of the whole image (all its layers). Prints a table and
writes JSON.

Fairness notes, so the numbers mean what they say:
- Packaging runs start cold for every tool: ours gets a fresh --target-dir (empty blob store and layer
  cache), umoci a fresh layout, buildah a fresh storage root.
- `cargo slim-image --push` re-runs the packaging from the binary and then pushes (there is no separate
  "push a layout" command); it runs with the layer cache that the packaging runs left, so it hashes the
  binary but does not compress it again. skopeo pushes that same layout (same bytes).
- Cold pushes go to a fresh registry each run (new storage, new port), so neither client can skip or
  mount anything; warm pushes go again to the registry that already holds everything, and the
  registry's own log counts the blob uploads.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None, cwd=None, check=True):
    """Run one command; return (wall seconds, peak RSS KiB, stdout); CPU seconds go to CPU[0].

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`), not from this Python process's wait4: a child
    forked from Python counts Python's own pages until it execs, which would hide small figures."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", rss_file.name] + list(cmd),
                           capture_output=True, env=env, cwd=cwd)
        # Minus the cost of measuring (fork, exec, /usr/bin/time) that `true` pays too, so that
        # sub-0.05 s commands compare on what they do.
        wall = max(0.0, time.perf_counter() - start - LAUNCH[0])
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                               f"{p.stderr.decode(errors='replace')}")
        lines = rss_file.read().split()
        rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        try:
            CPU[0] += float(lines[-3]) + float(lines[-2])
        except (IndexError, ValueError):
            pass
    return wall, rss, p.stdout.decode(errors="replace")


# CPU seconds (user + sys) of every command run so far; callers read the difference.
CPU = [0.0]
# Wall time of launching `true` through run(): subtracted from every measurement.
LAUNCH = [0.0]


def steps(cmds, env=None):
    """Run commands one after another; wall is the sum, RSS the max."""
    wall, rss = 0.0, 0
    for c in cmds:
        w, r, _ = run(c, env=env)
        wall += w
        rss = max(rss, r)
    return wall, rss


def layout_layers(layout, tag=None):
    """Sizes of the layers of the (first or tagged) manifest in an OCI layout."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    mans = index["manifests"]
    if tag:
        mans = [m for m in mans if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag] or mans
    d = mans[0]["digest"].split(":")[1]
    with open(os.path.join(layout, "blobs", "sha256", d)) as f:
        man = json.load(f)
    return [(l["size"], l["mediaType"]) for l in man["layers"]]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    """A fresh `docker-registry serve` on a free loopback port (config as in tests/common/registry.rs)."""

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="registry-", dir=work)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(
                "version: 0.1\nlog: {level: info}\nstorage:\n"
                f"  filesystem: {{rootdirectory: {self.dir}/data}}\n  delete: {{enabled: true}}\n"
                f"http:\n  addr: {self.host}\n  secret: bench\n"
            )
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).read()
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the registry did not start; see {self.log_path}")
                time.sleep(0.05)

    def uploads(self):
        """Blob uploads the registry has completed (PUT .../blobs/uploads/... 201)."""
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if '"PUT /v2/' in line and "/blobs/uploads/" in line and '" 201 ' in line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def median(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slim", required=True)
    ap.add_argument("--bin", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--noop-manifest", help="a workspace for the unchanged-workspace test")
    ap.add_argument("--no-buildah", action="store_true")
    ap.add_argument("--no-zstd", action="store_true")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    slim = [a.slim, "slim-image"]
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    results = {"runs": a.runs, "cores": os.cpu_count(), "binaries": {}, "noop": None}

    LAUNCH[0] = median([run(["true"])[0] for _ in range(7)])
    results["launch_overhead_s"] = LAUNCH[0]
    # Idle RSS of our process: the baseline for the "bounded memory" target.
    idle = median([run(slim + ["--version"])[1] for _ in range(3)])
    results["idle_rss_kib"] = idle

    def fresh(name):
        return tempfile.mkdtemp(prefix=name + "-", dir=work)

    for spec in a.bin:
        name, path = spec.split("=", 1)
        path = os.path.abspath(path)
        r = {"path": path, "bytes": os.path.getsize(path)}
        log(f"== {name}: {path} ({r['bytes'] / 2**20:.1f} MiB)")

        def ours(extra, label):
            walls, rsss, sizes, cpus, images = [], [], [], [], []
            for _ in range(a.runs):
                d = fresh(f"ours-{name}")
                c0 = CPU[0]
                w, rss, _ = run(slim + ["--binary", path, "-t", f"bench-{name}:1", "--target-dir",
                                        f"{d}/t", "-o", f"{d}/layout", "-q"] + extra, env=env)
                layers = layout_layers(f"{d}/layout")
                walls.append(w)
                cpus.append(CPU[0] - c0)
                rsss.append(rss)
                sizes.append(max(s for s, _ in layers))
                images.append(sum(s for s, _ in layers))
                shutil.rmtree(d)
            log(f"  {label}: {median(walls):.3f} s, {median(rsss) / 1024:.1f} MiB RSS, layer {sizes[0]} B")
            return {"wall": median(walls), "cpu": median(cpus), "rss_kib": median(rsss), "layer_bytes": sizes[0],
                    "image_bytes": images[0], "walls": walls, "deterministic": len(set(sizes)) == 1}

        r["ours"] = ours([], "ours (gzip)")
        if not a.no_zstd:
            r["ours_zstd"] = ours(["--compression", "zstd"], "ours (zstd)")

        # umoci: the same job by hand: a new image, the binary copied into its rootfs, repacked (gzip).
        walls, rsss, sizes, cpus, images = [], [], [], [], []
        for _ in range(a.runs):
            d = fresh(f"umoci-{name}")
            c0 = CPU[0]
            lay, bundle = f"{d}/layout", f"{d}/bundle"
            img = f"{lay}:1"

            def copy_in():
                os.makedirs(f"{bundle}/rootfs/usr/local/bin", exist_ok=True)
                shutil.copy2(path, f"{bundle}/rootfs/usr/local/bin/app")

            w1, r1 = steps([["umoci", "init", "--layout", lay], ["umoci", "new", "--image", img],
                            ["umoci", "unpack", "--rootless", "--image", img, bundle]])
            t = time.perf_counter()
            copy_in()
            w2 = time.perf_counter() - t
            w3, r3 = steps([["umoci", "repack", "--image", img, bundle],
                            ["umoci", "config", "--image", img, "--config.entrypoint", "/usr/local/bin/app"]])
            walls.append(w1 + w2 + w3)
            cpus.append(CPU[0] - c0)
            rsss.append(max(r1, r3))
            sizes.append(max(s for s, _ in layout_layers(lay)))
            images.append(sum(s for s, _ in layout_layers(lay)))
            shutil.rmtree(d)
        r["umoci"] = {"wall": median(walls), "cpu": median(cpus), "rss_kib": median(rsss), "layer_bytes": sizes[0],
                      "image_bytes": images[0], "walls": walls}
        log(f"  umoci: {median(walls):.3f} s, {median(rsss) / 1024:.1f} MiB RSS, layer {sizes[0]} B")

        # buildah: from scratch, copy, config, commit into an OCI layout with gzip layers.
        if not a.no_buildah:
            walls, rsss, sizes, cpus, images = [], [], [], [], []
            for _ in range(a.runs):
                d = fresh(f"buildah-{name}")
                c0 = CPU[0]
                b = ["buildah", "--root", f"{d}/root", "--runroot", f"{d}/run", "--storage-driver", "vfs"]
                w0, r0, out = run(b + ["from", "scratch"])
                c = out.strip()
                w1, r1 = steps([b + ["copy", c, path, "/usr/local/bin/app"],
                                b + ["config", "--entrypoint", '["/usr/local/bin/app"]', c],
                                b + ["commit", "--disable-compression=false", "--format", "oci", c,
                                     f"oci:{d}/layout:1"]])
                walls.append(w0 + w1)
                cpus.append(CPU[0] - c0)
                rsss.append(max(r0, r1))
                sizes.append(max(s for s, _ in layout_layers(f"{d}/layout")))
                images.append(sum(s for s, _ in layout_layers(f"{d}/layout")))
                subprocess.run(b + ["rm", "-a"], capture_output=True)
                shutil.rmtree(d, ignore_errors=True)
            r["buildah"] = {"wall": median(walls), "cpu": median(cpus), "rss_kib": median(rsss), "layer_bytes": sizes[0],
                            "image_bytes": images[0], "walls": walls}
            log(f"  buildah: {median(walls):.3f} s, {median(rsss) / 1024:.1f} MiB RSS, layer {sizes[0]} B")

        # Push: one layout with a warm layer cache for ours, the same layout for skopeo.
        d = fresh(f"push-{name}")
        tdir, lay = f"{d}/t", f"{d}/layout"
        base = slim + ["--binary", path, "-t", f"bench-{name}:1", "--target-dir", tdir, "-o", lay, "-q"]
        run(base, env=env)
        pushes = {k: [] for k in ["ours_cold", "ours_warm", "skopeo_cold", "skopeo_warm"]}
        uploads = {k: [] for k in pushes}
        for i in range(a.runs):
            for tool in ["ours", "skopeo"]:
                reg = Registry(work)
                ref = f"{reg.host}/{tool}-{name}:1"
                if tool == "ours":
                    cmd = base + ["--push", ref, "--insecure-registry", reg.host]
                else:
                    cmd = ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{lay}:1", f"docker://{ref}"]
                for phase in ["cold", "warm"]:
                    before = reg.uploads()
                    w, _, _ = run(cmd, env=env)
                    pushes[f"{tool}_{phase}"].append(w)
                    uploads[f"{tool}_{phase}"].append(reg.uploads() - before)
                reg.stop()
        r["push"] = {k: {"wall": median(v), "walls": v, "blob_uploads": uploads[k]} for k, v in pushes.items()}
        log("  push: " + ", ".join(f"{k} {median(v):.3f} s ({uploads[k][0]} uploads)" for k, v in pushes.items()))
        shutil.rmtree(d)
        results["binaries"][name] = r

    if a.noop_manifest:
        results["noop"] = noop(a, slim, env, fresh)
    with open(a.json, "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)
    log(f"JSON: {a.json}")


def noop(a, slim, env, fresh):
    """`cargo slim-image` on an unchanged workspace against `cargo build`'s own no-op."""
    d = fresh("noop")
    m = os.path.abspath(a.noop_manifest)
    ours = slim + ["--manifest-path", m, "--target-dir", f"{d}/t", "-o", f"{d}/layout", "-q"]
    run(ours, env=env)
    # Warm-up: a first no-op run (everything is built now), so the timed runs start from warm caches.
    run(ours, env=env)
    cargo = ["cargo", "build", "--manifest-path", m, "--target-dir", f"{d}/t", "--release",
             "--target", "x86_64-unknown-linux-musl", "--message-format=json-render-diagnostics"]
    cw = [run(cargo, env=env)[0] for _ in range(a.runs)]
    ow = [run(ours, env=env)[0] for _ in range(a.runs)]
    cw += [run(cargo, env=env)[0] for _ in range(a.runs)]
    shutil.rmtree(d)
    r = {"cargo_build": median(cw), "ours": median(ow), "overhead": median(ow) - median(cw)}
    log(f"== no-op: cargo build {r['cargo_build']:.3f} s, cargo slim-image {r['ours']:.3f} s")
    return r


def print_table(res):
    rows = []

    def ratio(x, y):
        return f"{x / y:.2f}x" if x and y else "-"

    rows.append(("binary", "tool", "wall s", "CPU s", "peak RSS MiB", "layer bytes", "image bytes",
                 "ours/peer wall", "ours/peer CPU", "ours/peer image size"))
    for name, r in res["binaries"].items():
        o = r["ours"]
        rows.append((f"{name} ({r['bytes'] / 2**20:.1f} MiB)", "cargo slim-image", f"{o['wall']:.3f}",
                     f"{o['cpu']:.2f}", f"{o['rss_kib'] / 1024:.1f}", o["layer_bytes"], o["image_bytes"], "", "",
                     ""))
        if "ours_zstd" in r:
            z = r["ours_zstd"]
            rows.append(("", "cargo slim-image --compression zstd", f"{z['wall']:.3f}", f"{z['cpu']:.2f}",
                         f"{z['rss_kib'] / 1024:.1f}", z["layer_bytes"], z["image_bytes"],
                         ratio(z["wall"], r["umoci"]["wall"]) + " (vs umoci)", ratio(z["cpu"], r["umoci"]["cpu"]),
                         ratio(z["image_bytes"], r["umoci"]["image_bytes"])))
        for peer in ["umoci", "buildah"]:
            if peer in r:
                p = r[peer]
                rows.append(("", peer, f"{p['wall']:.3f}", f"{p['cpu']:.2f}", f"{p['rss_kib'] / 1024:.1f}",
                             p["layer_bytes"], p["image_bytes"], ratio(o["wall"], p["wall"]),
                             ratio(o["cpu"], p["cpu"]), ratio(o["image_bytes"], p["image_bytes"])))
    push = [("binary", "push", "cargo slim-image s", "skopeo s", "ours/skopeo", "blob uploads ours/skopeo")]
    for name, r in res["binaries"].items():
        p = r["push"]
        for phase in ["cold", "warm"]:
            o, s = p[f"ours_{phase}"], p[f"skopeo_{phase}"]
            push.append((name, phase, f"{o['wall']:.3f}", f"{s['wall']:.3f}", ratio(o["wall"], s["wall"]),
                         f"{o['blob_uploads'][0]}/{s['blob_uploads'][0]}"))
    for t in [rows, push]:
        widths = [max(len(str(row[i])) for row in t) for i in range(len(t[0]))]
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(t[0], widths)) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in t[1:]:
            print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
        print()
    print(f"idle RSS of cargo slim-image: {res['idle_rss_kib'] / 1024:.1f} MiB; load average at the end: "
          f"{os.getloadavg()[0]:.1f} on {res['cores']} cores; wall times are net of the "
          f"{res['launch_overhead_s'] * 1000:.1f} ms it takes to launch and time `true`")
    if res.get("noop"):
        n = res["noop"]
        print(f"unchanged workspace: cargo build no-op {n['cargo_build']:.3f} s, cargo slim-image "
              f"{n['ours']:.3f} s, overhead {n['overhead']:+.3f} s")


if __name__ == "__main__":
    main()
