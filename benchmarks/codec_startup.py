"""Start-up of the codec command lines: seconds from process start to the first progress line.

Runs ``python -m vae.compress RUN --out F --images N`` and ``python -m vae.decompress F RUN
--out X`` in subprocesses, ``--repeats`` times, interleaved with a baseline ``python -c "import
torch"`` in the same round (a slow window of a shared machine hits all three alike), and reports
for each the median seconds to the first line on stderr (the first tqdm update; with
``--no-progress``, to the first line on stdout or stderr) and to the exit.  The baseline's
"first line" is its exit.  The load average (``os.getloadavg``, as ``uptime`` prints it) is
recorded before and after.  The run folder is read only; the files are written to a temporary
folder.  Output: a Markdown table, or with ``--json`` one JSON object.

Usage::

    python -m benchmarks.codec_startup RUN_DIR [--images 1000] [--repeats 5] [--no-progress] [--json]

e.g. ``RUN_DIR`` = runs/mnist-linear-40-dgauss/mnist/linear/h32/e8/lr0.001/seed0 (issue 31:
target, the first progress update within 1.5 s).
"""
from __future__ import annotations

import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lattices.cli import ArgumentParser, cli_main, input_dir, positive_count


def first_line_seconds(cmd, env=None) -> tuple[float, float, int]:
    """``(seconds to the first output line (stderr or stdout) or the exit, seconds to the exit, exit code)``."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    sel.register(p.stderr, selectors.EVENT_READ)
    first, open_ = None, 2
    while open_:
        for key, _ in sel.select():
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_ -= 1
            elif first is None:
                first = time.perf_counter() - t0
    rc = p.wait()
    total = time.perf_counter() - t0
    return (total if first is None else first), total, rc


def measure(run_dir, images: int = 1000, repeats: int = 5, progress: bool = True) -> dict:
    py = sys.executable
    flags = [] if progress else ["--no-progress"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    times = {"import torch": [], "vae.compress": [], "vae.decompress": []}
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            f, x = Path(tmp, f"f{r}.lrlb"), Path(tmp, f"x{r}.npz")
            cmds = {"import torch": [py, "-c", "import torch"],
                    "vae.compress": [py, "-m", "vae.compress", str(run_dir), "--out", str(f),
                                     "--images", str(images), *flags],
                    "vae.decompress": [py, "-m", "vae.decompress", str(f), str(run_dir), "--out", str(x), *flags]}
            for name, cmd in cmds.items():
                first, total, rc = first_line_seconds(cmd, env)
                if rc != 0:
                    raise RuntimeError(f"{' '.join(cmd)} exited with {rc}")
                times[name].append((first, total))
    load.append(os.getloadavg())
    rows = [{"command": name, "first_line_s": statistics.median(a for a, _ in t),
             "exit_s": statistics.median(b for _, b in t), "runs": len(t)} for name, t in times.items()]
    return {"meta": {"run": str(run_dir), "images": images, "repeats": repeats, "progress": progress,
                     "python": sys.version.split()[0], "cpus": os.cpu_count(),
                     "loadavg_before": load[0], "loadavg_after": load[1]}, "rows": rows}


def build_parser():
    p = ArgumentParser(prog="python -m benchmarks.codec_startup", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=input_dir,
                   help="a run folder of python -m vae.train with a discrete latent (read only)")
    p.add_argument("--images", type=positive_count, default=1000, help="images to compress")
    p.add_argument("--repeats", type=positive_count, default=5, help="rounds (median reported)")
    p.add_argument("--no-progress", action="store_true", help="time to the first line of any output")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


@cli_main("python -m benchmarks.codec_startup")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = measure(args.run_dir, args.images, args.repeats, not args.no_progress)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    m = out["meta"]
    print(f"load average {', '.join(f'{v:.2f}' for v in m['loadavg_before'])} (before), "
          f"{', '.join(f'{v:.2f}' for v in m['loadavg_after'])} (after); {m['images']} images, "
          f"median of {m['repeats']}")
    print("| command | first line (s) | exit (s) |\n|---|---|---|")
    for r in out["rows"]:
        print(f"| {r['command']} | {r['first_line_s']:.2f} | {r['exit_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
