"""What the plugin costs a pytest session that has no load test: wall time, CPU time and peak
memory of `python -m pytest -q -p no:cacheprovider test_trivial.py` with the plugin against the
same session with `-p no:aksload`, alternating, measured by /usr/bin/time (elapsed, user + system
CPU, max RSS). CPU time is the steadier figure on a shared host: waiting for a core is not in it.

    python bench/load_time.py [--runs 15]

Prints each pair, then the medians and their ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

COMMAND = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
VARIANTS = {"plugin": [], "no:aksload": ["-p", "no:aksload"]}


def measure(directory: Path, extra: list[str]) -> tuple[float, float, float]:
    """(elapsed seconds, CPU seconds, peak RSS in MiB) of one session."""
    run = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", *COMMAND, *extra],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode != 0:
        raise SystemExit(f"pytest failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    elapsed, user, system, max_rss_kib = run.stderr.split()[-4:]
    return float(elapsed), float(user) + float(system), int(max_rss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="pairs of sessions (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_trivial.py").write_text("def test_trivial():\n    assert True\n")
        for extra in VARIANTS.values():  # warm the file-system and bytecode caches
            measure(directory, extra)
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
        for index in range(args.runs):
            order = list(VARIANTS) if index % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                samples[name].append(measure(directory, VARIANTS[name]))
            shown = ", ".join(
                "{} {:.2f}s (CPU {:.2f}s) {:.0f} MiB".format(name, *samples[name][-1]) for name in VARIANTS
            )
            print(f"pair {index + 1}: {shown}")
    medians = {
        name: [statistics.median(column) for column in zip(*runs, strict=True)] for name, runs in samples.items()
    }
    for name, (seconds, cpu, mib) in medians.items():
        print(f"median {name}: {seconds:.3f}s, CPU {cpu:.3f}s, peak RSS {mib:.1f} MiB")
    (plugin_s, plugin_cpu, plugin_mib), (bare_s, bare_cpu, bare_mib) = medians["plugin"], medians["no:aksload"]
    print(
        f"plugin / no:aksload: {plugin_s / bare_s:.2f}x time (+{plugin_s - bare_s:.3f}s), "
        f"{plugin_cpu / bare_cpu:.2f}x CPU (+{plugin_cpu - bare_cpu:.3f}s), +{plugin_mib - bare_mib:.1f} MiB"
    )


if __name__ == "__main__":
    main()
