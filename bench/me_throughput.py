"""Requests per second and latency percentiles of ``GET /api/v1/me`` (a valid bearer token)
against ``GET /healthz`` (no database), both on ``keepgate serve --workers 2``, driven by wrk.

    .venv/bin/python bench/me_throughput.py [--postgres] [--duration 10] [--connections 64]

One account is seeded; before each /me run a fresh sign-in gives a new token, so the session
never reaches its ``touch_interval`` (60 s) during a run and every /me is a read. wrk keeps
``--connections`` keep-alive connections open for ``--duration`` seconds; with many connections
both workers get some (per-worker server CPU is reported to show the balance). Both endpoints
get the same ``Authorization`` header, so the requests are the same size.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from typing import Any

import benchlib as bl

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def parse_wrk(output: str) -> dict[str, Any]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    if rps is None or total is None:
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    latency = {f"p{q}": round(float(v) * UNITS[u], 3) for q, v, u in LATENCY_LINE.findall(output)}
    return {
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)),
        "latency_ms": latency,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                  (int(x) for x in errors.groups()), strict=True))
        if errors else {},
    }


def run_wrk(wrk: str, url: str, *, token: str, threads: int, connections: int,
            duration: float) -> dict[str, Any]:
    bl.require_loopback(url)
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:.0f}s", "--latency",
               "--timeout", "10s", "-H", f"Authorization: Bearer {token}", url]
    before = bl.children_cpu_seconds()
    completed = subprocess.run(command, capture_output=True, text=True,
                               timeout=duration + 60, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr}")
    result = parse_wrk(completed.stdout)
    result["wrk_cpu_s"] = round(bl.children_cpu_seconds() - before, 3)
    return result


def measure(server: bl.Server, db: bl.Database, wrk: str, path: str, *, token: str,
            threads: int, connections: int, duration: float) -> dict[str, Any]:
    cpu_before, db_before = server.cpu_snapshot(), bl.database_cpu_snapshot(db)
    busy_before = bl.machine_busy_seconds()
    started = time.perf_counter()
    result = run_wrk(wrk, f"{server.base_url}{path}", token=token, threads=threads,
                     connections=connections, duration=duration)
    elapsed = time.perf_counter() - started
    result["server_cpu_s"] = server.cpu_delta(cpu_before)
    result["database_cpu_s"] = bl.database_cpu_delta(db, db_before)
    busy = bl.machine_busy_seconds() - busy_before
    others = (busy - result["wrk_cpu_s"] - result["server_cpu_s"]["total"]
              - result["database_cpu_s"])
    capacity = (os.cpu_count() or 1) * elapsed
    result["wrk_cpu_share"] = round(result["wrk_cpu_s"] / capacity, 3)
    result["server_cpu_share"] = round(result["server_cpu_s"]["total"] / capacity, 3)
    result["database_cpu_share"] = round(result["database_cpu_s"] / capacity, 3)
    result["cpu_ms_per_request"] = {
        "server": round(1000 * result["server_cpu_s"]["total"] / max(result["requests"], 1), 3),
        "database": round(1000 * result["database_cpu_s"] / max(result["requests"], 1), 3),
        "wrk": round(1000 * result["wrk_cpu_s"] / max(result["requests"], 1), 3)}
    result["other_processes_share"] = round(max(others, 0.0) / capacity, 3)
    return result


def run(*, duration: float = 10.0, connections: int = 64, threads: int = 2,
        warmup: float = 2.0, rounds: int = 1, database: str = "sqlite",
        postgres_admin_url: str = bl.POSTGRES_ADMIN_URL, workers: int = 2,
        quiet_wait: float = 60.0, log: Any = print) -> dict[str, Any]:
    if not (1 <= duration <= 120 and 1 <= threads <= connections <= 2000 and 0 <= warmup <= 30
            and 1 <= rounds <= 10 and 1 <= workers <= 16 and 0 <= quiet_wait <= 600):
        raise SystemExit("bench: a limit is out of range")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench: wrk not found (apt-get update && apt-get install -y wrk)")
    cpus = os.cpu_count() or 1
    result: dict[str, Any] = {
        "benchmark": "me_throughput", "machine": bl.machine_info(), "database": database,
        "server_workers": workers,
        "settings": {"duration_s": duration, "connections": connections,
                     "wrk_threads": threads, "warmup_s": warmup, "rounds": rounds}}
    runs: dict[str, list[dict[str, Any]]] = {"healthz": [], "me": []}
    with bl.workdir() as tmp, bl.database(database, tmp, postgres_admin_url) as db:
        (account,) = bl.seed_accounts(db.url, 1)
        with bl.Server(db.url, workers=workers, logdir=tmp) as server:
            token = bl.sign_in(server.base_url, account)
            me = bl.get_json_with_token(f"{server.base_url}/api/v1/me", token)
            if me.get("email") != account.email:
                raise RuntimeError(f"/api/v1/me answered {me}")
            log(f"server {server.base_url} workers {server.worker_pids()}; wrk -t{threads} "
                f"-c{connections} -d{duration:.0f}s, {rounds} round(s)")
            for path in ("/healthz", "/api/v1/me"):  # warm both workers and both routes
                run_wrk(wrk, f"{server.base_url}{path}", token=token, threads=threads,
                        connections=connections, duration=warmup)
            result["quiet"] = bl.wait_for_quiet(quiet_wait, log=log)
            for round_no in range(rounds):
                for name, path in (("healthz", "/healthz"), ("me", "/api/v1/me")):
                    if name == "me":  # a fresh session: no last_seen write during the run
                        token = bl.sign_in(server.base_url, account)
                    measured = measure(server, db, wrk, path, token=token, threads=threads,
                                       connections=connections, duration=duration)
                    runs[name].append(measured)
                    log(f"  round {round_no + 1} {path}: {measured['requests_per_s']:,.0f} "
                        f"req/s, p99 {measured['latency_ms'].get('p99')} ms, non-2xx "
                        f"{measured['non_2xx']}, server CPU per worker "
                        f"{measured['server_cpu_s']['workers']} s, "
                        f"{measured['cpu_ms_per_request']['server']} ms CPU per request, "
                        f"balance {measured['server_cpu_s']['balance']}, "
                        f"others {100 * measured['other_processes_share']:.0f}%")
    result["runs"] = runs

    def best(name: str) -> dict[str, Any]:
        """The fastest round (the least disturbed) among those where both workers served."""
        balanced = [r for r in runs[name] if (r["server_cpu_s"]["balance"] or 0) >= 0.5]
        return max(balanced or runs[name], key=lambda r: r["requests_per_s"])

    healthz, me_run = best("healthz"), best("me")
    result["chosen_rounds"] = {"healthz": runs["healthz"].index(healthz) + 1,
                               "me": runs["me"].index(me_run) + 1}
    result["healthz"] = {"requests_per_s": healthz["requests_per_s"],
                         "p99_ms": healthz["latency_ms"].get("p99"),
                         "p50_ms": healthz["latency_ms"].get("p50")}
    result["me"] = {"requests_per_s": me_run["requests_per_s"],
                    "p99_ms": me_run["latency_ms"].get("p99"),
                    "p50_ms": me_run["latency_ms"].get("p50")}
    result["ratio_me_to_healthz"] = round(me_run["requests_per_s"] / healthz["requests_per_s"], 3)
    result["caveats"] = [
        bl.CPU_CAVEAT.format(cpus=cpus).replace("the load generator", "wrk"),
        "uvicorn's access log is on (as `keepgate serve` runs it): every request writes a line",
    ]
    if any((r["server_cpu_s"]["balance"] or 0) < 0.5 for r in (healthz, me_run)):
        result["caveats"].append("the connections were not spread over both workers (see the "
                                 "per-worker CPU): the figure is closer to one worker's")
    if any(r["non_2xx"] or any(r["socket_errors"].values()) for rs in runs.values() for r in rs):
        result["caveats"].append("some responses were not 2xx or had socket errors (see runs)")
    others = max(r["other_processes_share"] for rs in runs.values() for r in rs)
    if others > 0.05:
        result["caveats"].append(f"other processes used up to {100 * others:.0f}% of the CPUs "
                                 "during a run: the machine was shared")
    return result


def report(result: dict[str, Any]) -> str:
    h, m = result["healthz"], result["me"]
    hr, mr = (result["runs"][n][result["chosen_rounds"][n] - 1] for n in ("healthz", "me"))
    s = result["settings"]
    lines = [
        f"GET /api/v1/me vs GET /healthz ({result['database']}, {result['server_workers']} "
        f"workers, wrk -t{s['wrk_threads']} -c{s['connections']} -d{s['duration_s']:.0f}s):",
        *(f"  {label:10} {bl.fmt(f['requests_per_s'], 0):>8} req/s   p50 {f['p50_ms']} ms, "
          f"p99 {f['p99_ms']} ms   (server {r['cpu_ms_per_request']['server']} ms CPU/request"
          + (f" + PostgreSQL {r['cpu_ms_per_request']['database']} ms"
             if result["database"] == "postgres" else "")
          + f"; per worker {r['server_cpu_s']['workers']} s; wrk "
          f"{100 * r['wrk_cpu_share']:.0f}% of CPUs; others "
          f"{100 * r['other_processes_share']:.0f}%)"
          for label, f, r in (("/healthz", h, hr), ("/api/v1/me", m, mr))),
        f"  ratio      {bl.fmt(result['ratio_me_to_healthz'], 3)} (/me req/s / /healthz req/s)",
        f"  {bl.describe_source(result.get('source'))}",
        *(f"  caveat: {c}" for c in result["caveats"]),
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per URL")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate /healthz and /me this many times; the fastest round in "
                        "which both workers served is reported")


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    add_arguments(parser)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    return bl.run_and_report(args, argv, lambda: run(
        duration=args.duration, connections=args.connections, threads=args.wrk_threads,
        warmup=args.warmup, rounds=args.rounds, database="postgres" if args.postgres else "sqlite",
        postgres_admin_url=args.postgres_admin_url, quiet_wait=args.quiet_wait), report)


if __name__ == "__main__":
    raise SystemExit(main())
