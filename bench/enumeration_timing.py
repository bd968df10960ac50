"""Does a refused sign-in take the same time for an existing account (wrong password) as for
an identifier with no account? In-process (ASGI, no network), production Argon2 parameters,
defences loosened so nothing is throttled, banned or asked for a CAPTCHA.

    .venv/bin/python bench/enumeration_timing.py                 # SQLite, then PostgreSQL
    .venv/bin/python bench/enumeration_timing.py --db sqlite -n 400

Per database: a fresh, migrated database with ``--accounts`` accounts (benchlib's seeding:
production Argon2id hashes). The app is built in this process with ``DefencePolicy(
ip_failures=10**6, captcha_after=10**6, max_failures=10**6)`` and driven through
``httpx.ASGITransport``, one request at a time. Each trial starts a login flow (not timed)
and times the password submission, which must answer ``401 login.invalid_credentials``.
Three arms, interleaved in a random order within every round so drift (other load, caches,
table growth) hits them alike:

* ``known``: an existing account (rotating over the seeded ones), wrong password;
* ``unknown_fresh``: an identifier never seen before (what an enumerating attacker sends);
* ``unknown_repeat``: the same unknown identifier every time (its counter row is updated,
  not inserted).

After ``--warmup`` rounds (discarded), ``-n`` rounds are timed. Reported per arm: median, p10,
p90, mean; and known minus unknown: the difference of medians with a percentile bootstrap
95% interval, and the median of the per-round paired differences with its bootstrap
interval. "No measurable difference" = both intervals contain 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sys
import time
from pathlib import Path
from typing import Any

import benchextra as bx
import benchlib as bl

ARMS = ("known", "unknown_fresh", "unknown_repeat")
WRONG_PASSWORD = "not the right password at all"  # noqa: S105


async def measure(database_url: str, accounts: list[bl.SeededAccount], *, rounds: int,
                  warmup: int, time_limit: float, seed: int) -> dict[str, Any]:
    import httpx

    from keepgate.config import Settings
    from keepgate.domain.factors import DefencePolicy
    from keepgate.security.passwords import HashParams
    from keepgate.web.app import create_app
    from keepgate.wiring import build

    settings = dataclasses.replace(Settings(), database_url=database_url,
                                   run_outbox_worker=False, public_url="http://localhost",
                                   hash_params=HashParams())  # production: m=19 MiB, t=2, p=1
    loose = DefencePolicy(ip_failures=10**6, captcha_after=10**6, max_failures=10**6)
    kg = build(settings, defence_policy=loose)
    app = create_app(settings, keepgate=kg)
    rng = random.Random(seed)
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    answers: dict[str, dict[str, int]] = {arm: {} for arm in ARMS}
    fresh = 0
    known_i = 0
    deadline = time.perf_counter() + time_limit
    done_rounds = 0
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://localhost") as client:

            async def attempt(arm: str) -> float:
                nonlocal fresh, known_i
                if arm == "known":
                    identifier = accounts[known_i % len(accounts)].email
                    known_i += 1
                elif arm == "unknown_fresh":
                    identifier = f"nobody-{seed}-{fresh:06d}@example.com"
                    fresh += 1
                else:
                    identifier = f"nobody-{seed}-repeat@example.com"
                flow = (await client.post("/api/v1/flows/login")).json()
                t0 = time.perf_counter()
                response = await client.post(f"/api/v1/flows/{flow['id']}", json={
                    "method": "password", "identifier": identifier,
                    "password": WRONG_PASSWORD})
                elapsed = time.perf_counter() - t0
                key = f"{response.status_code}:{response.json()['error']['code']}"
                answers[arm][key] = answers[arm].get(key, 0) + 1
                return elapsed

            for number in range(warmup + rounds):
                if time.perf_counter() > deadline:
                    break
                order = list(ARMS)
                rng.shuffle(order)
                for arm in order:
                    elapsed = await attempt(arm)
                    if number >= warmup:
                        times[arm].append(elapsed)
                done_rounds = max(0, number + 1 - warmup)
    finally:
        await kg.close()

    summary: dict[str, Any] = {"rounds": done_rounds, "answers": answers,
                               "arms_ms": {arm: bx.describe(times[arm], digits=3)
                                           for arm in ARMS}}
    comparisons = {}
    for other in ("unknown_fresh", "unknown_repeat"):
        a = [t * 1000 for t in times["known"]]
        b = [t * 1000 for t in times[other]]
        if len(a) < 2 or len(b) < 2:
            continue
        unpaired = bx.bootstrap_median_difference(a, b, resamples=4000, seed=seed)
        paired = bx.bootstrap_median([x - y for x, y in zip(a, b, strict=False)],
                                     resamples=4000, seed=seed + 1)
        contains_zero = (unpaired["ci_low"] <= 0 <= unpaired["ci_high"]
                         and paired["ci_low"] <= 0 <= paired["ci_high"])
        comparisons[f"known_minus_{other}"] = {
            "median_difference_ms": round(unpaired["difference"], 3),
            "median_difference_ci95_ms": [round(unpaired["ci_low"], 3),
                                          round(unpaired["ci_high"], 3)],
            "paired_median_difference_ms": round(paired["median"], 3),
            "paired_ci95_ms": [round(paired["ci_low"], 3), round(paired["ci_high"], 3)],
            "no_measurable_difference": contains_zero,
        }
    summary["comparisons"] = comparisons
    summary["raw_ms"] = {arm: [round(t * 1000, 3) for t in times[arm]] for arm in ARMS}
    return summary


def run_one(database: str, args: argparse.Namespace, log: Any = print) -> dict[str, Any]:
    with bl.workdir() as tmp, bl.database(database, tmp, args.postgres_admin_url) as db:
        accounts = bl.seed_accounts(db.url, args.accounts)
        quiet = bl.wait_for_quiet(args.quiet_wait, log=log)
        window = bx.cpu_window()
        db_before = bl.database_cpu_snapshot(db)
        summary = asyncio.run(measure(db.url, accounts, rounds=args.n, warmup=args.warmup,
                                      time_limit=args.time_limit, seed=args.seed))
        summary["cpu"] = bx.cpu_window_end(window, server_cpu=0.0,
                                           database_cpu=bl.database_cpu_delta(db, db_before))
        summary["quiet_before"] = quiet
    summary["database"] = database
    return summary


def report(summary: dict[str, Any]) -> str:
    lines = [f"Refused sign-in timing on {summary['database']} ({summary['rounds']} interleaved "
             "rounds, in-process ASGI, production Argon2id):"]
    for arm, d in summary["arms_ms"].items():
        lines.append(f"  {arm:<15} median {bl.fmt(d['p50'], 2)} ms   p10 {bl.fmt(d['p10'], 2)}"
                     f"   p90 {bl.fmt(d['p90'], 2)}   mean {bl.fmt(d['mean'], 2)}   "
                     f"(n {d['n']}; answers {summary['answers'][arm]})")
    for name, c in summary["comparisons"].items():
        lo, hi = c["median_difference_ci95_ms"]
        plo, phi = c["paired_ci95_ms"]
        verdict = ("no measurable difference" if c["no_measurable_difference"]
                   else "DIFFERENCE (an interval excludes 0)")
        lines.append(f"  {name:<30} median diff {c['median_difference_ms']:+.2f} ms "
                     f"[{lo:+.2f}, {hi:+.2f}], paired {c['paired_median_difference_ms']:+.2f} ms "
                     f"[{plo:+.2f}, {phi:+.2f}] (95% bootstrap): {verdict}")
    cpu = summary["cpu"]
    lines.append(f"  CPU: benchmark process {100 * cpu['client_share']:.0f}%, PostgreSQL "
                 f"{100 * cpu['database_share']:.0f}%, other processes "
                 f"{100 * cpu['other_processes_share']:.0f}% of the CPUs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("-n", type=int, default=300, help="timed rounds (each arm once each)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=50,
                        help="seeded accounts; the known arm rotates over them")
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="seconds per database for the timed loop (cap)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--json", help="result file (default bench/results/...)")
    args = parser.parse_args(argv)
    if not (200 <= args.n <= 20_000 and 0 <= args.warmup <= 1000
            and 1 <= args.accounts <= 5000 and 0 < args.time_limit <= 3600):
        raise SystemExit("bench: -n must be 200..20000 (and other limits in range)")
    bl.exit_cleanly_on_sigterm()
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    result: dict[str, Any] = {"benchmark": "enumeration_timing", "machine": bl.machine_info(),
                              "settings": {"n": args.n, "warmup": args.warmup,
                                           "accounts": args.accounts, "seed": args.seed},
                              "argv": argv if argv is not None else sys.argv[1:],
                              "databases": {}}
    with bl.keepgate_source(args.ref) as source:
        result["source"] = source
        for database in databases:
            summary = run_one(database, args)
            result["databases"][database] = summary
            print(report(summary), flush=True)
    print(f"  {bl.describe_source(source)}")
    path = bl.write_json(Path(args.json) if args.json else
                         bx.results_file("enumeration_timing", args.db), result)
    print(f"  results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
