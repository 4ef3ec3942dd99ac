"""Cold start: what a fresh ``digest`` process costs before and while it does its work.

Runs each command in a fresh interpreter, ``--runs`` times (7), round robin so that a
shared machine's drifting load falls on all of them alike, after one untimed warm-up
each (so bytecode caches are written). Measures each process's CPU time (user + system,
from ``wait4``) and wall time, and prints min and median:

- ``python -c pass``: the interpreter alone;
- ``python -c "import httpx, jinja2, starlette"``: the reference, the libraries digest
  is built on;
- ``digest --help``;
- ``digest send --dry-run`` for one reader (``DIGEST_FROM``, ``DIGEST_TO``,
  ``DIGEST_KEYWORDS`` in the environment) on the bundled sample, with a temporary
  state database and outbox.

``digest`` is run as ``python -m digest`` on this checkout (``PYTHONPATH``), from an
empty folder with no ``DIGEST_*`` variable but the ones above. Each digest figure is
printed as a ratio to the reference's median from the same run, against the targets of
issue #19 (``--help`` within 1.3x, the one-reader send within 3x; judged on CPU).
Then the heaviest imports (cumulative) from ``python -X importtime -m digest --help``
and of the send, the least of three runs for each module.

``--baseline PATH`` measures another checkout's ``digest`` in the same run too (e.g.
the main branch), so before and after share one machine and one load. Usage:

    python benchmarks/coldstart.py [--runs 7] [--top 15] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "import httpx, jinja2, starlette"
TARGETS = {"help": 1.3, "send": 3.0}  # at most this many times the reference (CPU, median)
READER = {
    "DIGEST_FROM": "Paper Digest <digest@example.com>",
    "DIGEST_TO": "you@example.com",
    "DIGEST_KEYWORDS": "reinforcement learning, reward model*, LLM, -survey",
}


@dataclass
class Command:
    label: str
    argv: list[str]
    env: dict[str, str]
    target: float | None = None
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    def run(self, cwd: Path) -> tuple[float, float]:
        """One run: (CPU seconds, wall seconds); a failing command stops the benchmark."""
        started = time.perf_counter()
        process = subprocess.Popen(self.argv, env=self.env, cwd=cwd,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{self.label} failed ({process.returncode}):\n{errors.decode(errors='replace')}")
        return usage.ru_utime + usage.ru_stime, wall


def clean_environment() -> dict[str, str]:
    """This environment without settings that would change what digest does (DIGEST_*, PYTHON*)."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("DIGEST_", "PYTHON"))}


def digest_commands(root: Path, work: Path, suffix: str = "") -> list[Command]:
    """``digest --help`` and the one-reader dry-run send, on the checkout at ``root``."""
    env = clean_environment() | {"PYTHONPATH": str(root)}
    state = work / f"state{suffix.strip(' ()')}.db"
    send_env = env | READER | {"DIGEST_STATE_DB": str(state), "DIGEST_CACHE_DIR": str(work / "cache")}
    python = [sys.executable, "-m", "digest"]
    return [
        Command(f"digest --help{suffix}", [*python, "--help"], env, TARGETS["help"]),
        Command(f"digest send, 1 reader{suffix}",
                [*python, "send", "--dry-run", "--source", "sample", "--outbox", str(work / "outbox")],
                send_env, TARGETS["send"]),
    ]


def all_commands(work: Path, baseline: Path | None) -> list[Command]:
    env = clean_environment()
    commands = [
        Command("python -c pass", [sys.executable, "-c", "pass"], env),
        Command(f"reference: {REFERENCE}", [sys.executable, "-c", REFERENCE], env),
        *digest_commands(ROOT, work),
    ]
    if baseline is not None:
        commands += digest_commands(baseline.resolve(), work, " (baseline)")
    return commands


def measure(commands: list[Command], runs: int, cwd: Path) -> None:
    for command in commands:  # warm-up: bytecode written, the state database created
        command.run(cwd)
    for _ in range(runs):
        for command in commands:
            cpu, wall = command.run(cwd)
            command.cpu.append(cpu)
            command.wall.append(wall)


def report(commands: list[Command]) -> bool:
    """The table, each figure beside the reference's; True if every target is met."""
    reference = commands[1]
    ref_cpu, ref_wall = statistics.median(reference.cpu), statistics.median(reference.wall)
    print(f"{'COMMAND':<46} {'CPU min':>8} {'median':>8} {'WALL min':>9} {'median':>8}   "
          f"{'CPU x ref':>9} {'wall x ref':>10}  TARGET")
    met = True
    for command in commands:
        cpu, wall = statistics.median(command.cpu), statistics.median(command.wall)
        verdict = ""
        if command.target is not None:
            ok = cpu / ref_cpu <= command.target
            met = met and (ok or command.label.endswith("(baseline)"))
            verdict = f"{'✔' if ok else '✘'} within {command.target:g}x"
        print(f"{command.label:<46} {ms(min(command.cpu)):>8} {ms(cpu):>8} {ms(min(command.wall)):>9} "
              f"{ms(wall):>8}   {cpu / ref_cpu:>8.2f}x {wall / ref_wall:>9.2f}x  {verdict}")
    return met


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


def heaviest_imports(command: Command, cwd: Path, top: int, runs: int = 3) -> list[tuple[int, str]]:
    """``-X importtime``'s cumulative microseconds per module, least of ``runs`` runs, heaviest first."""
    least: dict[str, int] = {}
    argv = [command.argv[0], "-X", "importtime", *command.argv[1:]]
    for _ in range(runs):
        result = subprocess.run(argv, env=command.env, cwd=cwd, capture_output=True, text=True, check=True)
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line.removeprefix("import time:").split("|")
            module = name.rstrip()  # the indentation shows the nesting: kept
            least[module] = min(int(cumulative), least.get(module, 1 << 62))
    return sorted(((micros, module) for module, micros in least.items()), reverse=True)[:top]


def print_imports(title: str, imports: list[tuple[int, str]]) -> None:
    print(f"\n{title}")
    for micros, module in imports:
        print(f"  {micros / 1e3:>7.1f} ms  {module}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument("--top", type=int, default=15, help="how many imports to list (default 15)")
    parser.add_argument("--baseline", type=Path, metavar="PATH",
                        help="another checkout whose digest to measure in the same run (e.g. main)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-coldstart-") as tmp:
        work = Path(tmp)
        commands = all_commands(work, args.baseline)
        print(f"python {sys.version.split()[0]}; {args.runs} runs each; load {os.getloadavg()[0]:.1f}\n")
        measure(commands, args.runs, work)
        met = report(commands)
        print_imports(f"heaviest imports of python -X importtime -m digest --help ({ROOT}):",
                      heaviest_imports(commands[2], work, args.top))
        print_imports("heaviest imports of the one-reader send:", heaviest_imports(commands[3], work, args.top))
        print(f"\nload {os.getloadavg()[0]:.1f}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
