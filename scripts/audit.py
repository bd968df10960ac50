"""Audit the locked requirements for known vulnerabilities (pip-audit over PyPI's advisories).

Accepted findings live in ``audit-exceptions.txt``, one a line: the advisory id, the date the
acceptance expires (YYYY-MM-DD) and the reason. Each is passed to pip-audit as --ignore-vuln
until it expires; an expired or malformed line fails the audit, so an exception is re-examined
rather than forgotten. A locked dependency the service could not look up also fails it: an
audit that checked nothing must not pass.

    python3 scripts/audit.py    (``make audit``; .ci/run calls it)
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
EXCEPTIONS = ROOT / "audit-exceptions.txt"


def accepted(today: datetime.date) -> list[str]:
    """The advisory ids still accepted today; exit on an expired or malformed line."""
    ids = []
    for number, line in enumerate(EXCEPTIONS.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(maxsplit=2)
        if len(fields) < 3:
            sys.exit(f"{EXCEPTIONS.name}:{number}: want '<advisory id> <YYYY-MM-DD> <reason>'")
        advisory, expires, _reason = fields
        try:
            until = datetime.date.fromisoformat(expires)
        except ValueError:
            sys.exit(f"{EXCEPTIONS.name}:{number}: {expires!r} is not a YYYY-MM-DD date")
        if until < today:
            sys.exit(f"{EXCEPTIONS.name}:{number}: the exception for {advisory} expired on "
                     f"{until}: fix the dependency or renew the exception with a reason")
        ids.append(advisory)
    return ids


def unaudited(report: dict[str, object]) -> list[str]:
    dependencies = report.get("dependencies", [])
    assert isinstance(dependencies, list)
    return [str(d["skip_reason"])
            for d in dependencies if d.get("skip_reason")]


def main() -> None:
    ignores = [f"--ignore-vuln={advisory}" for advisory in accepted(datetime.date.today())]
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(LOCK), "--require-hashes",
               "--disable-pip", "--vulnerability-service", "pypi", "--progress-spinner", "off",
               "--format", "json", *ignores]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.exit(f"audit: pip-audit gave no report (exit {done.returncode})")
    for dependency in report.get("dependencies", []):
        for vuln in dependency.get("vulns", []):
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} "
                  f"(fixed in {', '.join(vuln.get('fix_versions', [])) or 'no release yet'})")
    skipped = unaudited(report)
    if skipped:
        print(f"audit: {len(skipped)} locked dependencies could not be audited:", *skipped,
              sep="\n  ")
        sys.exit(1)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
