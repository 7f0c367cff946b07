"""Run a benchmark command and store its output with what makes it evidence.

Every figure the README or a docstring quotes comes from a file under ``benchmarks/results/``
that says which command produced it, on which commit and on which machine (CPU, cores, the load
when it started). This wrapper writes that file::

    python benchmarks/record.py benchmarks/results/pipeline_throughput -- \\
        taskset -c 0 python benchmarks/pipeline_throughput.py --n 300

It runs the command from the repository root, streams its output, and writes
``<folder>/output.txt`` (a header, then everything the command printed) and ``record.json``.
The command's exit status is this script's.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv.index("--") != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder, command = Path(argv[0]), argv[2:]
    folder.mkdir(parents=True, exist_ok=True)
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    record = {
        "command": " ".join(command),
        "commit": git("rev-parse", "HEAD") + (" (with uncommitted changes)" if dirty else ""),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                    "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()},
    }
    start = time.time()
    lines = []
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            if not line.startswith(("WARNING: All log messages", "I0000 ", "E0000 ", "W0000 ")):
                lines.append(line)
    record.update(exit_status=proc.returncode, wall_s=round(time.time() - start, 1))
    header = [f"# {key}: {json.dumps(value) if isinstance(value, dict) else value}" for key, value in record.items()]
    (folder / "output.txt").write_text("\n".join(header) + "\n" + "".join(lines))
    (folder / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
