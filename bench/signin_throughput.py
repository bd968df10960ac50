"""Sign-in throughput (password only) against ``keepgate serve --workers 2``, and the Argon2id
bound of this machine measured in the same run.

    .venv/bin/python bench/signin_throughput.py [--postgres] [--duration 20] [--rounds 3]

1. A fresh database (SQLite in a temp dir; ``--postgres`` for a throw-away
   ``keepgate_bench_<random>`` database on 127.0.0.1:5432) is migrated and seeded with
   ``--accounts`` accounts, each with its own Argon2id hash at the production parameters (and
   a trusted device when the code confirms new devices: a returning user signs in with the
   password alone).
2. The server starts with 2 workers. Each round (``--rounds``):
   a. Argon2 bound, server idle: ``--argon2-parallel`` threads (or processes) each verify
      such a hash in a loop for ``--argon2-seconds``; the sum is the verifications per second
      this machine manages.
   b. ``--concurrency`` client tasks each run complete sign-ins (start login flow, submit
      password) until ``--max-signins`` or ``--duration``. Successful sign-ins per second,
      latency percentiles, and the CPU used by the client, each server worker (and the
      PostgreSQL backends) are measured.
3. The least disturbed round (least CPU used by other processes) is reported. Each sign-in
   costs exactly one Argon2id verification, so sign-ins/s ÷ verifies/s says how close the
   service gets to the hashing bound.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

import benchlib as bl

# --------------------------------------------------------------------------- the load


async def drive_signins(base_url: str, accounts: list[bl.SeededAccount], *, concurrency: int,
                        max_signins: int, duration: float, warmup: int,
                        fresh_connections: bool = True) -> dict[str, Any]:
    """Closed loop: ``concurrency`` tasks each run one sign-in after another. With
    ``fresh_connections`` the password submission asks the server to close the connection,
    so every sign-in comes in on a new one (like distinct clients): new connections are
    accepted by whichever worker is free, where a fixed set of keep-alive connections tends
    to land on one worker and stay there."""
    import httpx

    bl.require_loopback(base_url)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    next_account = 0
    close = {"Connection": "close"} if fresh_connections else {}
    in_window = 0

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0,
                                 headers={"User-Agent": bl.USER_AGENT}) as client:

        async def one_sign_in() -> str:
            nonlocal next_account
            account = accounts[next_account % len(accounts)]
            next_account += 1
            try:
                started = await client.post("/api/v1/flows/login", headers=account.headers())
                if started.status_code != 201:
                    return f"start:{started.status_code}"
                done = await client.post(f"/api/v1/flows/{started.json()['id']}", json={
                    "method": "password", "identifier": account.email,
                    "password": bl.PASSWORD}, headers={**account.headers(), **close})
                if done.status_code != 200:
                    return f"submit:{done.status_code}"
                body = done.json()
                if body.get("state") == "completed" and (body.get("session") or {}).get("token"):
                    return "ok"
                return f"submit:{body.get('state')}"
            except httpx.HTTPError as error:
                return f"error:{type(error).__name__}"

        # Warm-up (not counted): opens the connections, warms caches and both workers.
        warm_deadline = time.monotonic() + 30.0
        warm_sem = asyncio.Semaphore(concurrency)

        async def warm() -> None:
            async with warm_sem:
                if time.monotonic() < warm_deadline:
                    await one_sign_in()

        await asyncio.gather(*(warm() for _ in range(warmup)))

        issued = 0
        cpu_before, busy_before = bl.self_cpu_seconds(), bl.machine_busy_seconds()
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal issued, in_window
            while issued < max_signins and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                outcome = await one_sign_in()
                t1 = time.perf_counter()
                statuses[outcome] += 1
                if outcome == "ok":
                    latencies.append(t1 - t0)
                    in_window += t1 <= deadline

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                               timeout=duration + 120)
        elapsed = time.perf_counter() - start
        client_cpu = bl.self_cpu_seconds() - cpu_before
        machine_busy = bl.machine_busy_seconds() - busy_before

    ok = statuses["ok"]
    window = min(duration, elapsed)
    return {
        "connections": "fresh per sign-in" if fresh_connections else "keep-alive",
        "elapsed_s": round(elapsed, 3), "window_s": round(window, 3),
        "attempted": sum(statuses.values()), "succeeded": ok, "outcomes": dict(statuses),
        # completed inside the measuring window / window; the in-flight tail is excluded
        "signins_per_s": round(in_window / window, 2),
        "signins_per_s_incl_tail": round(ok / elapsed, 2),
        "latency_ms": {name: round(1000 * v, 1) if (v := bl.percentile(latencies, q)) else None
                       for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))},
        "client_cpu_s": round(client_cpu, 3), "machine_busy_cpu_s": round(machine_busy, 3),
    }


# --------------------------------------------------------------------------- the run


def run(*, accounts: int = 200, concurrency: int = 16, max_signins: int = 5000,
        duration: float = 20.0, warmup: int = 32, argon2_seconds: float = 5.0,
        argon2_parallel: int = 2, argon2_mode: str = "threads", database: str = "sqlite",
        postgres_admin_url: str = bl.POSTGRES_ADMIN_URL, workers: int = 2,
        fresh_connections: bool = True, quiet_wait: float = 60.0, rounds: int = 1,
        log: Any = print) -> dict[str, Any]:
    if not (1 <= concurrency <= 512 and 1 <= max_signins <= 100_000 and 0 < duration <= 600
            and 0 < argon2_seconds <= 120 and 1 <= argon2_parallel <= 16 and 1 <= rounds <= 10
            and 0 <= warmup <= 10_000 and 0 <= quiet_wait <= 600 and 1 <= workers <= 16):
        raise SystemExit("bench: a limit is out of range")
    result: dict[str, Any] = {
        "benchmark": "signin_throughput", "machine": bl.machine_info(), "database": database,
        "server_workers": workers,
        "settings": {"accounts": accounts, "concurrency": concurrency,
                     "max_signins": max_signins, "duration_s": duration,
                     "warmup_signins": warmup, "fresh_connections": fresh_connections,
                     "rounds": rounds}}
    with bl.workdir() as tmp, bl.database(database, tmp, postgres_admin_url) as db:
        t0 = time.perf_counter()
        seeded = bl.seed_accounts(db.url, accounts)
        devices = " with a trusted device each" if seeded[0].device_token else ""
        log(f"seeded {accounts} accounts{devices} in {time.perf_counter() - t0:.1f} s "
            f"({database})")
        result["settings"]["trusted_devices"] = bool(devices)

        with bl.Server(db.url, workers=workers, logdir=tmp) as server:
            log(f"server {server.base_url} workers {server.worker_pids()}")

            def drive(number: int) -> dict[str, Any]:
                return asyncio.run(drive_signins(
                    server.base_url, seeded, concurrency=concurrency, max_signins=max_signins,
                    duration=duration, warmup=warmup if number == 1 else 0,
                    fresh_connections=fresh_connections))

            measured = bl.measure_signin_rounds(
                server, db, rounds=rounds, argon2_parallel=argon2_parallel,
                argon2_seconds=argon2_seconds, argon2_mode=argon2_mode, quiet_wait=quiet_wait,
                drive=drive, log=log)
    bl.keep_least_disturbed(result, measured)
    return result


def report(result: dict[str, Any]) -> str:
    load, bound = result["signin"], result["argon2"]
    cpu = load["server_cpu_s"]
    lat = load["latency_ms"]
    lines = [
        f"Sign-in throughput ({result['database']}, {result['server_workers']} workers, "
        f"concurrency {result['settings']['concurrency']}, {load['connections']}; "
        f"round {result['chosen_round']} of {len(result['rounds'])}, the least disturbed):",
        f"  sign-ins/s            {bl.fmt(load['signins_per_s'], 2)}   "
        f"({load['succeeded']} ok of {load['attempted']}, window {load['window_s']:.1f} s; "
        f"outcomes {load['outcomes']})",
        f"  sign-in latency       p50 {bl.fmt(lat['p50'])} ms, p90 {bl.fmt(lat['p90'])} ms, "
        f"p99 {bl.fmt(lat['p99'])} ms",
        f"  argon2id verifies/s   {bl.fmt(bound['verifies_per_s'], 2)}   "
        f"({bound['parallel']} {bound['mode']}, m={bound['params']['memory_kib']} KiB "
        f"t={bound['params']['time_cost']} p={bound['params']['parallelism']}; "
        f"1 thread alone: {bound['single_thread_verifies_per_s']}/s = "
        f"{bound['single_verify_ms']} ms each)",
        f"  ratio                 {bl.fmt(result['ratio_signins_to_verifies'], 3)} "
        "(sign-ins/s / verifies/s)",
        f"  CPU per sign-in       server {load['cpu_ms_per_signin']['server']} ms "
        f"(one verify alone: {bound['single_verify_ms']} ms), client "
        f"{load['cpu_ms_per_signin']['client']} ms"
        + (f", PostgreSQL {load['cpu_ms_per_signin']['database']} ms"
           if result["database"] == "postgres" else ""),
        f"  CPU during the load   client {load['client_cpu_s']:.1f} s "
        f"({100 * load['client_cpu_share']:.0f}% of {result['machine']['cpus']} CPUs), "
        f"server {cpu['total']:.1f} s ({100 * load['server_cpu_share']:.0f}%; per worker "
        f"{cpu['workers']}), "
        + (f"PostgreSQL backends {100 * load['database_cpu_share']:.0f}%, "
           if result["database"] == "postgres" else "")
        + f"other processes {100 * load['other_processes_share']:.0f}%",
        f"  {bl.describe_source(result.get('source'))}",
        *(f"  caveat: {c}" for c in result["caveats"]),
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="client tasks running sign-ins back to back (default 16)")
    parser.add_argument("--max-signins", type=int, default=5000, help="count cap")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of measured load (time cap, default 20)")
    parser.add_argument("--warmup", type=int, default=32,
                        help="sign-ins before measuring (not counted)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat Argon2 bound + load; the least disturbed round is reported")
    parser.add_argument("--keep-alive", action="store_true",
                        help="reuse connections instead of a fresh one per sign-in")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument("--argon2-parallel", type=int, default=2)
    parser.add_argument("--argon2-mode", choices=("threads", "processes"), default="threads")


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    add_arguments(parser)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    return bl.run_and_report(args, argv, lambda: run(
        accounts=args.accounts, concurrency=args.concurrency, max_signins=args.max_signins,
        duration=args.duration, warmup=args.warmup, argon2_seconds=args.argon2_seconds,
        argon2_parallel=args.argon2_parallel, argon2_mode=args.argon2_mode,
        fresh_connections=not args.keep_alive, rounds=args.rounds,
        database="postgres" if args.postgres else "sqlite",
        postgres_admin_url=args.postgres_admin_url, quiet_wait=args.quiet_wait), report)


if __name__ == "__main__":
    raise SystemExit(main())
