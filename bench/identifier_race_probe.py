"""Probe: does "CAPTCHA after 3 failures on an identifier" hold for parallel guesses?

    .venv/bin/python bench/identifier_race_probe.py [--parallel 20] [--postgres]

In-process (ASGI), production Argon2 parameters, the default ``DefencePolicy`` (captcha after
3 failures on an identifier, ban after 5, 20 failures per IP per 10 min), and
``X-Forwarded-For`` believed from the test client. For a known account and for an identifier
with no account, ``--parallel`` wrong guesses are sent from as many distinct IPs (so the
per-IP budget never binds), first one after another, then all at once on a fresh identifier.
Counted: answers by code, and Argon2 verifications from the audit log (login failures at the
password step; "banned" ones verify the dummy hash). Bounded: a fixed number of requests and
a time limit; nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import benchextra as bx
import benchlib as bl


async def probe(database_url: str, known: list[str], parallel: int,
                time_limit: float) -> dict[str, Any]:
    import httpx

    from keepgate.config import Settings
    from keepgate.security.passwords import HashParams
    from keepgate.web.app import create_app
    from keepgate.wiring import build

    settings = dataclasses.replace(
        Settings(), database_url=database_url, run_outbox_worker=False,
        public_url="http://localhost", hash_params=HashParams(),
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    kg = build(settings)  # the default DefencePolicy
    app = create_app(settings, keepgate=kg)
    out: dict[str, Any] = {}
    next_ip = 0
    deadline = time.perf_counter() + time_limit
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost",
                                     timeout=120) as client:

            async def guess(identifier: str) -> str:
                nonlocal next_ip
                if time.perf_counter() > deadline:
                    return "skipped:time_limit"
                next_ip += 1
                headers = {"X-Forwarded-For": f"198.18.{next_ip // 250}.{next_ip % 250 + 1}"}
                flow = (await client.post("/api/v1/flows/login", headers=headers)).json()
                response = await client.post(f"/api/v1/flows/{flow['id']}", headers=headers,
                                             json={"method": "password",
                                                   "identifier": identifier,
                                                   "password": "wrong guess number one"})
                return f"{response.status_code}:{response.json()['error']['code']}"

            cases = [("known, sequential", known[0], False),
                     ("unknown, sequential", "nobody-seq@example.net", False),
                     ("known, parallel", known[1], True),
                     ("unknown, parallel", "nobody-par@example.net", True)]
            for name, identifier, concurrent in cases:
                since = await asyncio.to_thread(bx.audit_last_seq, database_url)
                t0 = time.perf_counter()
                if concurrent:
                    answers = await asyncio.gather(*(guess(identifier)
                                                     for _ in range(parallel)))
                else:
                    answers = [await guess(identifier) for _ in range(parallel)]
                audit = await asyncio.to_thread(bx.audit_summary, database_url,
                                                since_seq=since)
                out[name] = {"answers": dict(Counter(answers)),
                             "argon2_verifications": audit["argon2_verifications"],
                             "failures_by_reason": audit["login_failures_by_reason"],
                             "seconds": round(time.perf_counter() - t0, 2)}
    finally:
        await kg.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--json", help="result file (default bench/results/...)")
    args = parser.parse_args(argv)
    if not (1 <= args.parallel <= 200 and 0 < args.time_limit <= 600):
        raise SystemExit("bench: a limit is out of range")
    bl.exit_cleanly_on_sigterm()
    database = "postgres" if args.postgres else "sqlite"
    with bl.keepgate_source(args.ref) as source, bl.workdir() as tmp, \
            bl.database(database, tmp, args.postgres_admin_url) as db:
        accounts = bl.seed_accounts(db.url, 2)
        result = asyncio.run(probe(db.url, [a.email for a in accounts], args.parallel,
                                   args.time_limit))
    print(f"Identifier CAPTCHA probe ({database}, {args.parallel} guesses from as many IPs per "
          "case; policy: captcha after 3 failures on an identifier, ban after 5):")
    for name, r in result.items():
        print(f"  {name:<20} argon2 verifications {r['argon2_verifications']:>3}  answers "
              f"{r['answers']}  reasons {r['failures_by_reason']}")
    print(f"  {bl.describe_source(source)}")
    path = bl.write_json(Path(args.json) if args.json else
                         bx.results_file("identifier_race_probe", database),
                         {"benchmark": "identifier_race_probe", "database": database,
                          "parallel": args.parallel, "source": source, "result": result,
                          "argv": argv if argv is not None else sys.argv[1:]})
    print(f"  results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
