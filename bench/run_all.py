"""Run both benchmarks, print a compact summary table, write JSON to ``bench/results/``.

    .venv/bin/python bench/run_all.py                 # SQLite
    .venv/bin/python bench/run_all.py --postgres      # SQLite, then PostgreSQL as well
    .venv/bin/python bench/run_all.py --ref HEAD      # the last commit, not the working tree
    .venv/bin/python bench/run_all.py --quick         # shorter runs, for a smoke test

See bench/README.md for what each figure means and the caveats.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import benchlib as bl
import me_throughput
import signin_throughput


def best(result: dict[str, Any], name: str) -> dict[str, Any]:
    """The reported wrk round of one URL."""
    chosen: dict[str, Any] = result["me"]["runs"][name][result["me"]["chosen_rounds"][name] - 1]
    return chosen


def summary_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    def pick(db: str, fn: Any) -> str:
        try:
            return str(fn(results[db]))
        except (KeyError, TypeError):
            return "-"

    def pct(value: float) -> str:
        return f"{100 * value:.0f}%"

    rows: list[tuple[str, Any]] = [
        ("sign-ins/s (2 workers)", lambda r: bl.fmt(r["signin"]["signin"]["signins_per_s"], 2)),
        ("argon2id verifies/s (2 threads)",
         lambda r: bl.fmt(r["signin"]["argon2"]["verifies_per_s"], 2)),
        ("ratio sign-ins / verifies",
         lambda r: bl.fmt(r["signin"]["ratio_signins_to_verifies"], 3)),
        ("sign-in latency p50 / p99 ms",
         lambda r: f"{bl.fmt(r['signin']['signin']['latency_ms']['p50'], 0)} / "
                   f"{bl.fmt(r['signin']['signin']['latency_ms']['p99'], 0)}"),
        ("sign-in: server CPU ms per sign-in",
         lambda r: bl.fmt(r["signin"]["signin"]["cpu_ms_per_signin"]["server"], 1)),
        ("sign-in: client CPU share", lambda r: pct(r["signin"]["signin"]["client_cpu_share"])),
        ("sign-in: other processes", lambda r: pct(r["signin"]["signin"]["other_processes_share"])),
        ("GET /healthz req/s", lambda r: bl.fmt(r["me"]["healthz"]["requests_per_s"], 0)),
        ("GET /api/v1/me req/s", lambda r: bl.fmt(r["me"]["me"]["requests_per_s"], 0)),
        ("ratio /me / /healthz", lambda r: bl.fmt(r["me"]["ratio_me_to_healthz"], 3)),
        ("/healthz p99 ms", lambda r: bl.fmt(r["me"]["healthz"]["p99_ms"], 1)),
        ("/api/v1/me p99 ms", lambda r: bl.fmt(r["me"]["me"]["p99_ms"], 1)),
        ("server CPU ms/request /healthz", lambda r: bl.fmt(
            best(r, "healthz")["cpu_ms_per_request"]["server"], 2)),
        ("server CPU ms/request /me", lambda r: bl.fmt(
            best(r, "me")["cpu_ms_per_request"]["server"], 2)),
        ("others' CPU share (/healthz, /me)",
         lambda r: " / ".join(pct(best(r, n)["other_processes_share"])
                              for n in ("healthz", "me"))),
        ("wrk CPU share (/healthz, /me)",
         lambda r: " / ".join(pct(best(r, n)["wrk_cpu_share"]) for n in ("healthz", "me"))),
    ]
    return [(label, [pick(db, fn) for db in results]) for label, fn in rows]


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = summary_rows(results)
    width = max(len(label) for label, _ in rows)
    cols = [max(len(db), *(len(values[i]) for _, values in rows))
            for i, db in enumerate(results)]
    head = " " * width + "  " + "  ".join(db.rjust(w) for db, w in zip(results, cols, strict=True))
    lines = [head, "-" * len(head)]
    lines += [label.ljust(width) + "  " + "  ".join(v.rjust(w) for v, w in
                                                    zip(values, cols, strict=True))
              for label, values in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="short runs (sign-ins 8 s, wrk 4 s): a smoke test, not a figure")
    parser.add_argument("--signin-duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--me-duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat each measurement; the least disturbed round is reported")
    parser.add_argument("--skip-signin", action="store_true")
    parser.add_argument("--skip-me", action="store_true")
    parser.add_argument("--output", help="JSON file (default bench/results/run-<time>.json)")
    args = parser.parse_args(argv)
    bl.exit_cleanly_on_sigterm()
    if args.quick:
        args.signin_duration, args.me_duration, args.accounts = 8.0, 4.0, 50
    databases = ["sqlite", "postgres"] if args.postgres else ["sqlite"]
    results: dict[str, dict[str, Any]] = {}
    with bl.keepgate_source(args.ref) as source:
        print(bl.describe_source(source), flush=True)
        for db in databases:
            results[db] = {}
            if not args.skip_signin:
                print(f"== sign-in throughput on {db}", flush=True)
                results[db]["signin"] = signin_throughput.run(
                    accounts=args.accounts, concurrency=args.concurrency,
                    duration=args.signin_duration, database=db, rounds=args.rounds,
                    postgres_admin_url=args.postgres_admin_url, quiet_wait=args.quiet_wait)
                results[db]["signin"]["source"] = source
                print(signin_throughput.report(results[db]["signin"]), flush=True)
            if not args.skip_me:
                print(f"== /api/v1/me vs /healthz on {db}", flush=True)
                results[db]["me"] = me_throughput.run(
                    duration=args.me_duration, connections=args.connections,
                    rounds=args.rounds, database=db,
                    postgres_admin_url=args.postgres_admin_url, quiet_wait=args.quiet_wait)
                results[db]["me"]["source"] = source
                print(me_throughput.report(results[db]["me"]), flush=True)

    print()
    print(f"Summary ({bl.describe_source(source)}; {bl.machine_info()['cpus']} CPUs shared by "
          "server and load generator)")
    print(table(results))
    output = Path(args.output) if args.output else bl.RESULTS / f"run-{bl.timestamp()}.json"
    document = {"source": source, "machine": bl.machine_info(), "argv": sys.argv[1:],
                "quick": args.quick, "summary": {label: dict(zip(results, values, strict=True))
                                                 for label, values in summary_rows(results)},
                "results": results}
    print(f"\nJSON: {bl.write_json(output, document)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
