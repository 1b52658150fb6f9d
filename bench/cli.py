"""Command-line start-up: CPU time of `fastauth --help` and `fastauth generate-secret`.

    .venv/bin/python bench/cli.py                      # 15 interleaved runs of each command
    .venv/bin/python bench/cli.py --quick              # 3 runs of each
    .venv/bin/python bench/cli.py --compare 21674cf    # the same, next to the CLI of another commit

Each command runs in a fresh interpreter; its CPU time (user + system, from `wait4`) is what the
reader pays on every call. Runs of the different commands (and of the commits compared) take turns;
the figures are medians. `--compare REV` exports `src/` of that commit with `git archive` and runs
its CLI from there (PYTHONPATH), in the same rounds. The floor is `python -c pass`.
Prints markdown; progress on stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_support.py, also when run from elsewhere

from _support import ROOT, machine, median

#: Runs the CLI of whichever fastauth is first on the path, as the console script does.
LAUNCH = "import sys; sys.argv[0] = 'fastauth'; from fastauth.cli import main; main()"
COMMANDS = (("fastauth --help", ["--help"]), ("fastauth generate-secret", ["generate-secret"]))


def cpu_of(argv: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one run of `argv` (which must exit 0)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}:\n{err.decode(errors='replace')}")
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 runs of each command")
    parser.add_argument("--runs", type=int, help="runs of each command (default 15; --quick 3)")
    parser.add_argument("--compare", metavar="REV", help="also time the CLI of this git commit")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    runs = args.runs or (3 if args.quick else 15)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FASTAUTH_")}

    trees: dict[str, dict[str, str]] = {"this tree": env}
    workdir = Path(tempfile.mkdtemp(prefix="fastauth-bench-cli-"))
    try:
        if args.compare:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.compare, "src"], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
            trees[f"commit {args.compare}"] = {**env, "PYTHONPATH": str(workdir / "src")}
        cases = [("python -c pass (the floor)", [sys.executable, "-c", "pass"], env)]
        for label, tree_env in trees.items():
            for name, command in COMMANDS:
                cases.append((f"{name} ({label})", [sys.executable, "-c", LAUNCH, *command], tree_env))
        console = shutil.which("fastauth", path=os.path.dirname(sys.executable))
        if console:
            cases.append(("console script: fastauth --help (this tree)", [console, "--help"], env))
        for _, argv, case_env in cases:  # compile the byte code first, untimed
            cpu_of(argv, case_env)
        samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        for round_no in range(runs):
            print(f"round {round_no + 1}/{runs}", file=sys.stderr, flush=True)
            for label, argv, case_env in cases:
                samples[label].append(cpu_of(argv, case_env))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    out = [
        "### Command line",
        "",
        f"CPU time (user + system) per run, median of {runs} interleaved runs.",
        "",
        "| command | CPU ms (median) | min | max |",
        "|---|---:|---:|---:|",
    ]
    for label, values in samples.items():
        out.append(
            f"| {label} | {median(values) * 1000:.0f} | {min(values) * 1000:.0f} | {max(values) * 1000:.0f} |"
        )
    out += [
        "",
        "Machine:",
        "",
        *(f"- {line}" for line in machine(("fastauth", "typer", "click", "rich"), load_at_start)),
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
