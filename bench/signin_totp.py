"""Sign-in throughput with password + TOTP against ``keepgate serve --workers 2``, and the
Argon2id bound of this machine measured in the same run.

    .venv/bin/python bench/signin_totp.py [--postgres] [--duration 20] [--accounts 2000]

1. A fresh database (SQLite in a temp dir, or ``--postgres``: a throw-away
   ``keepgate_bench_<random>`` database on 127.0.0.1:5432) is migrated and seeded with
   ``--accounts`` accounts (production Argon2id hashes, a trusted device each, by benchlib),
   then each gets a confirmed TOTP factor, written through the app's repositories with the
   seed encrypted by the app's key ring (``build(settings).keyring``).
2. The server starts with ``--workers`` (2). Per round: the Argon2 bound (reusing
   ``benchlib.argon2_bound``: 2 threads, server idle), then
   ``--concurrency`` client tasks each run complete sign-ins back to back:
   ``POST /api/v1/flows/login``; ``{"method": "password", ...}`` which must answer
   ``awaiting_second_factor``; ``{"method": "totp", "code": ...}`` which must answer
   ``completed`` with a session token. The trusted-device header means no new-device code.
3. TOTP codes are single-use per 30-s step and factor, so an account signs in at most once
   per step: accounts rotate least-recently-used first, and a task that finds every account
   already used in the current step waits for the next step (reported as ``starved``; give
   more accounts if it is not 0).

Each sign-in costs one Argon2id verification (the password step); the TOTP step costs an
AES-GCM decryption, three HMACs and a conditional UPDATE. ratio = sign-ins/s / verifies/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

import benchextra as bx
import benchlib as bl


async def drive(base_url: str, accounts: list[bx.TotpAccount], *, concurrency: int,
                max_signins: int, duration: float, warmup: int,
                fresh_connections: bool = True) -> dict[str, Any]:
    import httpx

    from keepgate.security import totp

    bl.require_loopback(base_url)
    # Least recently used on the left; earlier rounds leave their accounts' last steps set.
    pool: deque[bx.TotpAccount] = deque(sorted(accounts, key=lambda a: a.last_step))
    available = asyncio.Condition()
    outcomes: Counter[str] = Counter()
    steps: dict[str, list[float]] = {"start": [], "password": [], "totp": [], "total": []}
    starved: dict[str, float] = {"waits": 0, "seconds": 0.0, "gave_up": 0}
    close = {"Connection": "close"} if fresh_connections else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def take(deadline: float) -> bx.TotpAccount | None:
        """The least recently used account not yet used in the current TOTP step."""
        async with available:
            for _ in range(1000):
                current = totp.step_of(datetime.now(UTC))
                if pool and pool[0].last_step < current:
                    return pool.popleft()
                now = time.time()
                wait = (current + 1) * totp.STEP_SECONDS - now + 0.05 if pool else 1.0
                if time.perf_counter() + wait > deadline:
                    return None
                starved["waits"] += 1
                t0 = time.perf_counter()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(available.wait(), timeout=max(wait, 0.01))
                starved["seconds"] += time.perf_counter() - t0
        return None

    async def give_back(account: bx.TotpAccount) -> None:
        async with available:
            pool.append(account)
            available.notify()

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0,
                                 headers={"User-Agent": bl.USER_AGENT}) as client:

        async def one(deadline: float, record: bool) -> str:
            account = await take(deadline)
            if account is None:
                return "no_account_before_deadline"
            timings: dict[str, float] = {}
            try:
                t0 = time.perf_counter()
                started = await client.post("/api/v1/flows/login", headers=account.headers())
                t1 = time.perf_counter()
                timings["start"] = t1 - t0
                if started.status_code != 201:
                    return f"start:{started.status_code}"
                flow_id = started.json()["id"]
                first = await client.post(f"/api/v1/flows/{flow_id}", json={
                    "method": "password", "identifier": account.email,
                    "password": bl.PASSWORD}, headers=account.headers())
                t2 = time.perf_counter()
                timings["password"] = t2 - t1
                if first.status_code != 200 or first.json().get("state") != \
                        "awaiting_second_factor":
                    return f"password:{first.status_code}:{first.json().get('state', '')}"
                step = totp.step_of(datetime.now(UTC))
                code = totp.code_at(account.secret, step)
                account.last_step = step
                done = await client.post(f"/api/v1/flows/{flow_id}", json={
                    "method": "totp", "code": code}, headers={**account.headers(), **close})
                t3 = time.perf_counter()
                timings["totp"] = t3 - t2
                timings["total"] = t3 - t0
                if done.status_code != 200:
                    body = done.json()
                    return f"totp:{done.status_code}:{body.get('error', {}).get('code', '')}"
                body = done.json()
                if body.get("state") == "completed" and (body.get("session") or {}).get("token"):
                    if record:
                        for name, value in timings.items():
                            steps[name].append(value)
                    return "ok"
                return f"totp:{body.get('state')}"
            except httpx.HTTPError as error:
                return f"error:{type(error).__name__}"
            finally:
                await give_back(account)

        # Warm-up (not counted)
        warm_deadline = time.perf_counter() + 30.0
        sem = asyncio.Semaphore(concurrency)

        async def warm() -> None:
            async with sem:
                if time.perf_counter() < warm_deadline:
                    outcome = await one(warm_deadline, record=False)
                    if outcome != "ok":
                        outcomes[f"warmup:{outcome}"] += 1

        await asyncio.gather(*(warm() for _ in range(warmup)))
        starved.update(waits=0, seconds=0.0, gave_up=0)

        issued = 0
        in_window = 0
        finished_ok = 0
        cpu0, busy0 = bl.self_cpu_seconds(), bl.machine_busy_seconds()
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal issued, in_window, finished_ok
            while issued < max_signins and time.perf_counter() < deadline:
                issued += 1
                outcome = await one(deadline, record=True)
                if outcome == "no_account_before_deadline":  # every account used this step
                    issued -= 1
                    starved["gave_up"] += 1
                    break
                outcomes[outcome] += 1
                if outcome == "ok":
                    finished_ok += 1
                    in_window += time.perf_counter() <= deadline

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                               timeout=duration + 120)
        elapsed = time.perf_counter() - start
        client_cpu = bl.self_cpu_seconds() - cpu0
        busy = bl.machine_busy_seconds() - busy0

    window = min(duration, elapsed)
    return {
        "connections": "fresh per sign-in" if fresh_connections else "keep-alive",
        "elapsed_s": round(elapsed, 3), "window_s": round(window, 3),
        "attempted": issued, "succeeded": finished_ok, "outcomes": dict(outcomes),
        "signins_per_s": round(in_window / window, 2),
        "signins_per_s_incl_tail": round(finished_ok / elapsed, 2),
        "latency_ms": {name: bx.describe(values, digits=1) for name, values in steps.items()},
        "starved": {"waits": starved["waits"], "seconds": round(starved["seconds"], 2),
                    "tasks_gave_up": starved["gave_up"]},
        "client_cpu_s": round(client_cpu, 3), "machine_busy_cpu_s": round(busy, 3),
    }


def run(args: argparse.Namespace, log: Any = print) -> dict[str, Any]:
    if not (1 <= args.concurrency <= 256 and 1 <= args.max_signins <= 100_000
            and 0 < args.duration <= 600 and 1 <= args.rounds <= 10
            and 2 <= args.accounts <= 20_000 and 0 <= args.warmup <= 1000
            and 1 <= args.workers <= 8 and 0 < args.argon2_seconds <= 120):
        raise SystemExit("bench: a limit is out of range")
    database = "postgres" if args.postgres else "sqlite"
    result: dict[str, Any] = {
        "benchmark": "signin_totp", "machine": bl.machine_info(), "database": database,
        "server_workers": args.workers,
        "settings": {k: getattr(args, k) for k in (
            "accounts", "concurrency", "max_signins", "duration", "warmup", "rounds",
            "argon2_seconds", "argon2_parallel", "keep_alive")}}
    with bl.workdir() as tmp, bl.database(database, tmp, args.postgres_admin_url) as db:
        t0 = time.perf_counter()
        seeded = bl.seed_accounts(db.url, args.accounts)
        if not seeded[0].device_token:
            raise SystemExit("bench: this code has no trusted devices; the run would measure "
                             "the new-device code too")
        accounts = bx.add_totp_factors(db.url, seeded)
        log(f"seeded {len(accounts)} accounts with a trusted device and a TOTP factor each in "
            f"{time.perf_counter() - t0:.1f} s ({database})")
        with bx.server(db.url, workers=args.workers, logdir=tmp) as srv:
            log(f"server {srv.base_url} workers {srv.worker_pids()}")

            def drive_totp(number: int) -> dict[str, Any]:
                return asyncio.run(drive(
                    srv.base_url, accounts, concurrency=args.concurrency,
                    max_signins=args.max_signins, duration=args.duration,
                    warmup=args.warmup if number == 1 else 0,
                    fresh_connections=not args.keep_alive))

            measured = bl.measure_signin_rounds(
                srv, db, rounds=args.rounds, argon2_parallel=args.argon2_parallel,
                argon2_seconds=args.argon2_seconds, argon2_mode="threads",
                quiet_wait=args.quiet_wait, drive=drive_totp, log=log)
    bl.keep_least_disturbed(result, measured)
    load = result["signin"]
    if load["starved"]["waits"] or load["starved"]["tasks_gave_up"]:
        result["caveats"].append(
            f"tasks waited {load['starved']['seconds']} s in all for an account not yet used in "
            "the current 30-s TOTP step: use more --accounts")
    return result


def report(result: dict[str, Any]) -> str:
    load, bound = result["signin"], result["argon2"]
    lat = load["latency_ms"]

    def p(name: str) -> str:
        d = lat[name]
        return f"p50 {bl.fmt(d['p50'])} ms, p99 {bl.fmt(d['p99'])} ms"

    cpu = load["server_cpu_s"]
    lines = [
        f"Sign-in with password + TOTP ({result['database']}, {result['server_workers']} "
        f"workers, concurrency {result['settings']['concurrency']}, {load['connections']}; "
        f"round {result['chosen_round']} of {len(result['rounds'])}):",
        f"  sign-ins/s            {bl.fmt(load['signins_per_s'], 2)}   ({load['succeeded']} ok "
        f"of {load['attempted']}, window {load['window_s']:.1f} s; outcomes "
        f"{load['outcomes']})",
        f"  argon2id verifies/s   {bl.fmt(bound['verifies_per_s'], 2)}   ({bound['parallel']} "
        f"threads, m={bound['params']['memory_kib']} KiB t={bound['params']['time_cost']} "
        f"p={bound['params']['parallelism']}; one verify {bound['single_verify_ms']} ms)",
        f"  ratio                 {bl.fmt(result['ratio_signins_to_verifies'], 3)}",
        f"  password step         {p('password')}",
        f"  totp step             {p('totp')}",
        f"  start flow            {p('start')};  whole sign-in {p('total')}",
        f"  CPU per sign-in       server {load['cpu_ms_per_signin']['server']} ms, client "
        f"{load['cpu_ms_per_signin']['client']} ms"
        + (f", PostgreSQL {load['cpu_ms_per_signin']['database']} ms"
           if result["database"] == "postgres" else ""),
        f"  CPU shares            client {100 * load['client_cpu_share']:.0f}%, server "
        f"{100 * load['server_cpu_share']:.0f}% (per worker {cpu['workers']}), other "
        f"processes {100 * load['other_processes_share']:.0f}%; starved "
        f"{load['starved']['seconds']} s",
        f"  {bl.describe_source(result.get('source'))}",
        *(f"  caveat: {c}" for c in result["caveats"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    parser.add_argument("--accounts", type=int, default=2000,
                        help="accounts with TOTP; each signs in at most once per 30 s step")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-signins", type=int, default=5000, help="count cap")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--warmup", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-alive", action="store_true")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument("--argon2-parallel", type=int, default=2)
    parser.add_argument("--json", help="result file (default bench/results/signin_totp-*.json)")
    args = parser.parse_args(argv)
    return bl.run_and_report(args, argv, lambda: run(args), report, lambda result:
                             bx.results_file("signin_totp", result["database"]))


if __name__ == "__main__":
    raise SystemExit(main())
