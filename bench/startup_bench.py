"""Start-up cost: CPU time of a one-line `yuqing analyze` (process start to first result),
this tree against an older one (--compare OLD_TREE), runs alternating so load hits both."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
LINE = "宿舍停水\n"
RUN = "import sys; from service.cli import main; sys.exit(main())"


def one_run(tree: Path, config: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one analyze of one line, run from ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", RUN, "--config", config, "analyze"],
        input=LINE,
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(f"analyze failed in {tree}: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", metavar="OLD_TREE", help="a checkout of the old code")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", default="config/example")
    args = parser.parse_args()
    sides = {"new": HERE}
    if args.compare:
        sides = {"old": Path(args.compare).resolve(), "new": HERE}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(args.rounds):
        for name, tree in sides.items():
            spent, wall = one_run(tree, args.config)
            cpu[name].append(spent)
            load = os.getloadavg()[0]
            print(
                f"round {round_ + 1} {name}: {spent:.2f} s CPU, {wall:.2f} s wall, load {load:.1f}"
            )
    for name, times in cpu.items():
        print(f"{name}: best {min(times):.2f} s CPU, median {sorted(times)[len(times) // 2]:.2f} s")
    if "old" in cpu:
        print(f"ratio old/new (best CPU): {min(cpu['old']) / min(cpu['new']):.2f}x")


if __name__ == "__main__":
    main()
