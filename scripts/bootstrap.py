"""Create ./.venv and install the locked dependencies, using only the standard library.

    python3 scripts/bootstrap.py runtime   # what the service needs (make run)
    python3 scripts/bootstrap.py dev       # that, plus the test and lint tools (make test)

Runs on a fresh Debian machine that has `python3` and nothing else: Debian ships `venv` without
`ensurepip` (that lives in the separate python3-venv package), so when `python3 -m venv` cannot
seed pip we create the environment without it and install a pinned, hash-checked pip wheel from
the package index. Every dependency then comes from a lock (`requirements-runtime.lock` or
`requirements.lock`, both generated from pyproject.toml with the same pins), installed with
`--require-hashes`, and each install is skipped while its lock file is unchanged. Progress is
printed as packages download and install: a first install takes a minute or more.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
LOCKS = {"runtime": ROOT / "requirements-runtime.lock", "dev": ROOT / "requirements.lock"}
PIP_WHEEL = "pip-25.3-py3-none-any.whl"
PIP_SHA256 = "9655943313a94722b7774661c21049070f6bbb0a1516bf02f7c8d5d9201514cd"
INDEX = os.environ.get("KEEPGATE_BOOTSTRAP_INDEX", "https://pypi.org/simple")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def run(*cmd: str | Path) -> None:
    """Run quietly; show the tool's own output only if it fails."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        sys.exit(f"bootstrap: {' '.join(str(c) for c in cmd[:4])} ... failed")


def has_pip() -> bool:
    probe = subprocess.run([str(venv_python()), "-m", "pip", "--version"], capture_output=True)
    return probe.returncode == 0


def seed_pip_from_index() -> None:
    """Install pip into a pip-less venv from a pinned wheel, verified by its SHA-256."""
    page = urllib.request.urlopen(f"{INDEX}/pip/", timeout=60).read().decode()
    match = re.search(r'href="([^"#]*' + re.escape(PIP_WHEEL) + r')[^"]*"', page)
    if not match:
        sys.exit(f"bootstrap: {PIP_WHEEL} not found on {INDEX}")
    url = urllib.parse.urljoin(f"{INDEX}/pip/", match.group(1))
    data = urllib.request.urlopen(url, timeout=120).read()
    if hashlib.sha256(data).hexdigest() != PIP_SHA256:
        sys.exit("bootstrap: the pip wheel's SHA-256 does not match the pinned value")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(tmp) / PIP_WHEEL
        wheel.write_bytes(data)
        # A wheel is importable as a zip: pip installs itself from its own wheel.
        run(venv_python(), str(wheel / "pip"), "install", "--no-index", "--quiet", str(wheel))


def ensure_venv() -> None:
    if venv_python().exists() and has_pip():
        return
    if not venv_python().exists():
        print("bootstrap: creating .venv", flush=True)
        seeded = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True)
        if seeded.returncode != 0:
            print("bootstrap: ensurepip is unavailable; seeding pip from the package index")
            run(sys.executable, "-m", "venv", "--without-pip", "--clear", VENV)
    if not has_pip():
        seed_pip_from_index()


def pinned(lock: Path) -> int:
    return sum(1 for line in lock.read_text().splitlines() if re.match(r"^[A-Za-z0-9].*==", line))


def run_with_progress(total: int, *cmd: str | Path) -> None:
    """Run pip, printing one line per package it collects; its full output only on failure."""
    process = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert process.stdout is not None
    seen: list[str] = []
    collected = 0
    for line in process.stdout:
        seen.append(line)
        if line.startswith(("Collecting ", "Processing ")):  # from the index, from a cache
            collected += 1
            name = Path(line.split()[1]).name
            print(f"bootstrap: [{collected}/{total}] {name}", flush=True)
        elif line.startswith("Installing collected packages"):
            print("bootstrap: installing the packages into .venv ...", flush=True)
    if process.wait() != 0:
        sys.stdout.write("".join(seen))
        sys.exit(f"bootstrap: {' '.join(str(c) for c in cmd[:4])} ... failed")


def install_locked(kind: str) -> None:
    lock = LOCKS[kind]
    stamp = VENV / f".keepgate-{kind}-lock.sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    total = pinned(lock)
    print(f"bootstrap: installing {total} locked packages from {lock.name} into .venv",
          flush=True)
    run_with_progress(total, venv_python(), "-m", "pip", "install", "--progress-bar", "off",
                      "--disable-pip-version-check", "--require-hashes", "--no-deps",
                      "-r", lock)
    print("bootstrap: installing keepgate itself (editable)", flush=True)
    run(venv_python(), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--editable", ROOT)
    stamp.write_text(digest + "\n")
    print("bootstrap: done", flush=True)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (runs under whatever python3 the machine has)
        sys.exit("Keepgate needs Python 3.11 or newer")
    kind = sys.argv[1] if len(sys.argv) > 1 else "dev"
    if kind not in LOCKS:
        sys.exit(f"usage: bootstrap.py [{'|'.join(LOCKS)}]")
    ensure_venv()
    install_locked(kind)


if __name__ == "__main__":
    main()
