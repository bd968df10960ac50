"""Introspection (``POST /api/v1/introspect``, a service client's Basic credentials, a live
session token) against ``GET /healthz`` (no database), both on ``keepgate serve --workers 2``.

    .venv/bin/python bench/service_api.py [--postgres] [--duration 10] [--connections 32]

Per target, in one run and on one server:

1. **closed loop**: ``--connections`` keep-alive connections each send the next request as
   soon as the answer to the last one has arrived, for ``--duration`` seconds (at most
   ``--max-requests``): the most the server answers, and latency percentiles at that load;
2. **open loop at half load**: requests are sent on a fixed schedule at half the rate
   introspection reached in step 1 (the same rate for both targets), and each latency is
   counted from the request's *scheduled* time, so a stalled server cannot hide its delay by
   slowing the client down (coordinated omission). The issue's target: p99 under 10 ms here.

The load generator is a lean asyncio client in a process of its own (pre-encoded requests,
a few microseconds of CPU each, far cheaper than httpx); both targets carry the same
``Authorization`` header and the same body size class, and every answer must be 200 (the
introspection answers must also say ``"active":true``). On a 2-CPU machine the generator
shares the CPUs with the server: the figures are a ratio to ``/healthz`` more than absolutes.

Bounded everywhere: each phase stops at its duration or request cap, the server runs in its
own process group and is always stopped, and only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import secrets
import subprocess
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

import benchlib as bl

CLIENT_NAME = "bench-trading-engine"


# --------------------------------------------------------------------------- set-up


def create_service_client(database_url: str) -> tuple[str, str]:
    """A service client with scope ``introspect`` through the CLI, as an operator makes one."""
    name = f"{CLIENT_NAME}-{secrets.token_hex(3)}"
    done = subprocess.run(
        [str(bl.KEEPGATE), "service-client", "create", name, "--scopes", "introspect",
         "--reason", "benchmark", "--operator", "bench"],
        env=bl.keepgate_env(database_url), cwd=tempfile.gettempdir(), capture_output=True,
        text=True, timeout=120, check=True)
    secret = next(line for line in done.stdout.splitlines() if line.startswith("kgs_"))
    return name, secret


def raw_request(base_url: str, method: str, path: str, headers: dict[str, str],
                body: bytes = b"") -> bytes:
    bl.require_loopback(base_url)
    parts = urlsplit(base_url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}",
             f"User-Agent: {bl.USER_AGENT}", "Connection: keep-alive",
             *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- the generator


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def _load(host: str, port: int, request: bytes, *, connections: int, duration: float,
                max_requests: int, rate: float | None, expect: bytes | None,
                timeout: float) -> dict[str, Any]:
    """Closed loop (``rate`` None) or open loop at ``rate`` requests per second."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + duration
    sent = 0

    def next_slot() -> float | None:
        nonlocal sent
        if sent >= max_requests:
            return None
        slot = started + sent / rate if rate else time.perf_counter()
        if slot >= deadline or time.perf_counter() >= deadline:
            return None
        sent += 1
        return slot

    async def connection() -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            while (slot := next_slot()) is not None:
                wait = slot - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(request)
                status, body = await asyncio.wait_for(_answer(reader), timeout)
                latencies.append(time.perf_counter() - slot)
                if status != 200 or (expect is not None and expect not in body):
                    key = str(status) if status != 200 else "unexpected body"
                    failures[key] = failures.get(key, 0) + 1
        finally:
            writer.close()

    results = await asyncio.gather(*(connection() for _ in range(connections)),
                                   return_exceptions=True)
    elapsed = time.perf_counter() - started
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    ordered = sorted(latencies)
    return {
        "requests": len(latencies), "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "offered_rate": rate,
        "latency_ms": {f"p{int(q * 100)}": round(1000 * (bl.percentile(ordered, q) or 0.0), 3)
                       for q in (0.5, 0.9, 0.99)},
        "max_ms": round(1000 * ordered[-1], 3) if ordered else None,
        "failures": failures, "connection_errors": errors[:5],
    }


def _load_in_process(args: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_load(**args))


def load(base_url: str, request: bytes, **options: Any) -> dict[str, Any]:
    """Run the generator in a process of its own, so its CPU is not the benchmark's own."""
    parts = urlsplit(base_url)
    args = {"host": parts.hostname, "port": parts.port, "request": request, **options}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        result: dict[str, Any] = pool.apply(_load_in_process, (args,))
    return result


# --------------------------------------------------------------------------- the run


def run(*, duration: float = 10.0, connections: int = 32, warmup: float = 2.0,
        max_requests: int = 500_000, database: str = "sqlite",
        postgres_admin_url: str = bl.POSTGRES_ADMIN_URL, workers: int = 2,
        quiet_wait: float = 60.0, log: Any = print) -> dict[str, Any]:
    if not (0.5 <= duration <= 120 and 1 <= connections <= 512 and 0 <= warmup <= 30
            and 100 <= max_requests <= 5_000_000 and 1 <= workers <= 16
            and 0 <= quiet_wait <= 600):
        raise SystemExit("bench: a limit is out of range")
    result: dict[str, Any] = {
        "benchmark": "service_api", "machine": bl.machine_info(), "database": database,
        "server_workers": workers,
        "settings": {"duration_s": duration, "connections": connections, "warmup_s": warmup,
                     "max_requests": max_requests}}
    with bl.workdir() as tmp, bl.database(database, tmp, postgres_admin_url) as db:
        (account,) = bl.seed_accounts(db.url, 1)
        name, secret = create_service_client(db.url)
        with bl.Server(db.url, workers=workers, logdir=tmp) as server:
            token = bl.sign_in(server.base_url, account)
            auth = {"Authorization": "Basic " + base64.b64encode(
                f"{name}:{secret}".encode()).decode()}
            body = json.dumps({"token": token}).encode()
            targets = {
                "healthz": (raw_request(server.base_url, "GET", "/healthz", auth), None),
                "introspect": (raw_request(server.base_url, "POST", "/api/v1/introspect",
                                           {**auth, "Content-Type": "application/json"},
                                           body), b'"active":true'),
            }
            common = {"connections": connections, "max_requests": max_requests,
                      "timeout": 30.0}
            log(f"server {server.base_url} workers {server.worker_pids()}; {connections} "
                f"connections, {duration:g} s per phase")
            for request, expect in targets.values():  # warm both routes and workers
                if warmup:
                    load(server.base_url, request, duration=warmup, rate=None, expect=expect,
                         **common)
            result["quiet"] = bl.wait_for_quiet(quiet_wait, log=log)
            for label, (request, expect) in targets.items():
                result[label] = {"closed": load(server.base_url, request, duration=duration,
                                                rate=None, expect=expect, **common)}
                closed = result[label]["closed"]
                log(f"  {label:10} closed loop: {closed['requests_per_s']:,.0f} req/s, p99 "
                    f"{closed['latency_ms']['p99']} ms, failures {closed['failures']}")
            half = max(result["introspect"]["closed"]["requests_per_s"] / 2, 1.0)
            for label, (request, expect) in targets.items():
                paced = load(server.base_url, request, duration=duration, rate=half,
                             expect=expect, **common)
                result[label]["half_load"] = paced
                log(f"  {label:10} at {half:,.0f} req/s: p50 {paced['latency_ms']['p50']} ms, "
                    f"p99 {paced['latency_ms']['p99']} ms, failures {paced['failures']}")
    intro, health = result["introspect"], result["healthz"]
    result["ratio_introspect_to_healthz"] = round(
        intro["closed"]["requests_per_s"] / max(health["closed"]["requests_per_s"], 1e-9), 3)
    result["targets"] = {
        "ratio_at_least": 0.4, "ratio_met": result["ratio_introspect_to_healthz"] >= 0.4,
        "half_load_p99_ms_under": 10.0,
        "half_load_p99_met": intro["half_load"]["latency_ms"]["p99"] < 10.0}
    failed = any(phase["failures"] or phase["connection_errors"]
                 for target in (intro, health) for phase in target.values())
    result["caveats"] = [bl.CPU_CAVEAT.format(cpus=result["machine"].get("cpus", "?")),
                         "uvicorn's access log is on (as `keepgate serve` runs it)"] + (
        ["some answers failed or were unexpected (see failures)"] if failed else [])
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"POST /api/v1/introspect vs GET /healthz ({result['database']}, "
             f"{result['server_workers']} workers, {result['settings']['connections']} "
             "connections):"]
    for label in ("healthz", "introspect"):
        closed, half = result[label]["closed"], result[label]["half_load"]
        lines.append(f"  {label:10} {bl.fmt(closed['requests_per_s'], 0):>8} req/s   p50 "
                     f"{closed['latency_ms']['p50']} ms, p99 {closed['latency_ms']['p99']} ms"
                     f"   at {bl.fmt(half['offered_rate'], 0)} req/s: p99 "
                     f"{half['latency_ms']['p99']} ms")
    targets = result["targets"]
    lines.append(f"  ratio      {bl.fmt(result['ratio_introspect_to_healthz'], 3)} "
                 f"(target >= 0.4: {'met' if targets['ratio_met'] else 'NOT met'}); half-load "
                 f"p99 target < 10 ms: {'met' if targets['half_load_p99_met'] else 'NOT met'}")
    lines.append(f"  {bl.describe_source(result.get('source'))}")
    lines.extend(f"  caveat: {c}" for c in result["caveats"])
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per URL")
    parser.add_argument("--max-requests", type=int, default=500_000,
                        help="cap per phase (default 500000)")


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    add_arguments(parser)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    return bl.run_and_report(args, argv, lambda: run(
        duration=args.duration, connections=args.connections, warmup=args.warmup,
        max_requests=args.max_requests, database="postgres" if args.postgres else "sqlite",
        postgres_admin_url=args.postgres_admin_url, quiet_wait=args.quiet_wait), report)


if __name__ == "__main__":
    raise SystemExit(main())
