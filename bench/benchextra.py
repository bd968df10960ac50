"""Helpers for ``signin_totp.py``, ``credential_stuffing.py`` and ``enumeration_timing.py``.

``benchlib.py`` holds what every benchmark needs; what these three benchmarks need on top of
it lives here: a server with extra ``KEEPGATE_*`` variables, TOTP factors seeded
through the app's own repositories and key ring, a Redis database whose keys we clean up after
ourselves, memory sampling of the server processes, the audit log read back, and the
statistics (percentiles, bootstrap intervals).

Every loop is bounded in count and time; only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchlib as bl

REDIS_URL = "redis://127.0.0.1:6379/14"
# Keys the app writes to Redis: the ``limits`` counters and the CAPTCHA replay guard.
REDIS_KEY_PATTERNS = ("LIMITS:*", "keepgate:replay:*")


# --------------------------------------------------------------------------- the server


def server(database_url: str, *, workers: int, logdir: Path,
           extra_env: dict[str, str] | None = None) -> bl.Server:
    """``benchlib.Server`` with extra ``KEEPGATE_*`` variables (e.g. ``REDIS_URL``,
    ``TRUSTED_PROXIES``). The environment is built in the constructor and used on enter, so
    it can be extended in between; start it with ``with server(...) as s:``."""
    srv = bl.Server(database_url, workers=workers, logdir=logdir)
    for name, value in (extra_env or {}).items():
        if not name.startswith("KEEPGATE_"):
            raise ValueError(f"not a Keepgate variable: {name}")
        srv.env[name] = value
    return srv


def server_pids(srv: bl.Server) -> dict[str, int]:
    """The master and each worker (one process when there is a single worker)."""
    if srv.proc is None:
        return {}
    pids = {"master": srv.proc.pid}
    workers = [p for p in srv.worker_pids() if p != srv.proc.pid]
    pids.update({f"worker-{i + 1}": pid for i, pid in enumerate(workers)})
    return pids


# --------------------------------------------------------------------------- a lean client


class RawHttp:
    """A minimal HTTP/1.1 client on asyncio streams for load generators: a few microseconds
    of CPU per request where httpx spends milliseconds, which matters when the generator
    shares two CPUs with the server. One connection per ``session``; JSON bodies only; the
    response must carry Content-Length (as every Keepgate JSON answer does)."""

    def __init__(self, base_url: str, *, timeout: float = 120.0,
                 user_agent: str = bl.USER_AGENT) -> None:
        bl.require_loopback(base_url)
        parts = base_url.split("://", 1)[1].split(":")
        self.host, self.port = parts[0], int(parts[1].rstrip("/"))
        self.timeout = timeout
        self.user_agent = user_agent

    @contextlib.asynccontextmanager
    async def session(self) -> Any:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout=self.timeout)
        try:
            yield _RawSession(self, reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


class _RawSession:
    def __init__(self, client: RawHttp, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.client, self.reader, self.writer = client, reader, writer

    async def post(self, path: str, payload: Any = None, headers: dict[str, str] | None = None,
                   *, close: bool = False) -> tuple[int, Any]:
        body = b"" if payload is None else json.dumps(payload).encode()
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.client.host}:{self.client.port}",
                 f"User-Agent: {self.client.user_agent}", f"Content-Length: {len(body)}",
                 "Connection: close" if close else "Connection: keep-alive"]
        if payload is not None:
            lines.append("Content-Type: application/json")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await asyncio.wait_for(self._response(), timeout=self.client.timeout)

    async def _response(self) -> tuple[int, Any]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        raw = await self.reader.readexactly(length) if length else b""
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


# --------------------------------------------------------------------------- memory


def proc_memory_kib(pid: int) -> dict[str, int] | None:
    """VmRSS (now) and VmHWM (peak RSS since the process started), in KiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(rest.split()[0])
    return found


class MemorySampler:
    """Samples VmRSS of the given processes every ``interval`` s in a thread (bounded by
    ``max_seconds``); ``stop()`` adds each process's VmHWM, the kernel's own peak."""

    def __init__(self, pids: dict[str, int], *, interval: float = 0.5,
                 max_seconds: float = 900.0) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.max_seconds = max_seconds
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.baseline = {name: proc_memory_kib(pid) for name, pid in self.pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        deadline = self._start + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            now = {}
            for name, pid in self.pids.items():
                mem = proc_memory_kib(pid)
                if mem is not None:
                    now[name] = mem.get("VmRSS", 0)
            self.samples.append((round(time.monotonic() - self._start, 2), now))
            self._stop.wait(self.interval)

    def report(self) -> dict[str, Any]:
        final = {name: proc_memory_kib(pid) for name, pid in self.pids.items()}
        out: dict[str, Any] = {}
        for name in self.pids:
            rss = [s[name] for _, s in self.samples if name in s]
            base = (self.baseline.get(name) or {}).get("VmRSS")
            out[name] = {
                "pid": self.pids[name],
                "rss_before_mib": _mib(base),
                "rss_peak_sampled_mib": _mib(max(rss) if rss else None),
                "rss_end_mib": _mib((final.get(name) or {}).get("VmRSS")),
                "vmhwm_mib": _mib((final.get(name) or {}).get("VmHWM")),
            }
        total_peak = max((sum(s.values()) for _, s in self.samples), default=0)
        return {"processes": out, "sum_rss_peak_sampled_mib": _mib(total_peak),
                "sum_vmhwm_mib": round(sum(p["vmhwm_mib"] or 0 for p in out.values()), 1),
                "timeline_mib": [(t, round(sum(s.values()) / 1024, 1))
                                 for t, s in self.samples[:: max(1, len(self.samples) // 120)]]}


    def growth(self, t_from: float, t_to: float) -> dict[str, float | None]:
        """Least-squares slope of the summed RSS between ``t_from`` and ``t_to`` (seconds
        since the sampler started), and the change between the first and last sample."""
        points = [(t, sum(s.values()) / 1024) for t, s in self.samples if t_from <= t <= t_to]
        if len(points) < 3:
            return {"slope_mib_per_min": None, "delta_mib": None}
        mean_t = statistics.fmean(t for t, _ in points)
        mean_m = statistics.fmean(m for _, m in points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        slope = sum((t - mean_t) * (m - mean_m) for t, m in points) / var if var else 0.0
        return {"from_s": t_from, "to_s": t_to, "slope_mib_per_min": round(60 * slope, 2),
                "delta_mib": round(points[-1][1] - points[0][1], 1)}


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


# --------------------------------------------------------------------------- Redis


@contextlib.contextmanager
def redis_db(url: str = REDIS_URL) -> Iterator[dict[str, Any]]:
    """A loopback Redis database for the app's counters. Keys that exist before are left
    alone; keys of the app's patterns created during the run are deleted afterwards (and
    counted, so the report can say how many counters the run made)."""
    import redis

    bl.require_loopback(url)
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        before = {k for p in REDIS_KEY_PATTERNS for k in client.scan_iter(match=p, count=1000)}
        info: dict[str, Any] = {"url": url, "keys_before": len(before)}
        try:
            yield info
        finally:
            created = [k for p in REDIS_KEY_PATTERNS
                       for k in client.scan_iter(match=p, count=1000) if k not in before]
            info["keys_created"] = len(created)
            for start in range(0, len(created), 500):
                client.delete(*created[start:start + 500])
    finally:
        client.close()


# --------------------------------------------------------------------------- TOTP seeding


@dataclass
class TotpAccount:
    email: str
    device_token: str | None
    secret: str
    factor_id: str
    last_step: int = -1  # the last TOTP step this client used (codes are single-use per step)

    def headers(self) -> dict[str, str]:
        return {bl.DEVICE_HEADER: self.device_token} if self.device_token else {}


def add_totp_factors(database_url: str,
                     accounts: Sequence[bl.SeededAccount]) -> list[TotpAccount]:
    """Give each seeded account a confirmed TOTP factor, through the app's repositories, with
    the seed encrypted by the key ring the server will use (the same settings: the
    development secret, from which the at-rest key is derived)."""
    from keepgate.config import Settings
    from keepgate.domain.factors import FACTOR_LABELS, Factor, FactorKind
    from keepgate.domain.identifiers import parse_identifier
    from keepgate.security import totp
    from keepgate.security.tokens import new_id
    from keepgate.wiring import build

    settings = Settings.from_env(bl.keepgate_env(database_url))

    async def run() -> list[TotpAccount]:
        kg = build(settings)
        out = []
        now = datetime.now(UTC)
        try:
            async with kg.store.unit_of_work(write=True) as uow:
                for account in accounts:
                    found = await uow.accounts.find(parse_identifier(account.email))
                    assert found is not None, account.email
                    secret = totp.new_secret()
                    factor_id = new_id()
                    sealed = kg.keyring.encrypt(secret.encode(),
                                                       context=f"totp:{factor_id}")
                    await uow.factors.create(Factor(
                        id=factor_id, account_id=found.id, kind=FactorKind.TOTP,
                        label=FACTOR_LABELS[FactorKind.TOTP], created_at=now, confirmed_at=now,
                        secret=sealed, last_step=None))
                    out.append(TotpAccount(account.email, account.device_token, secret,
                                           factor_id))
        finally:
            await kg.close()
        return out

    return asyncio.run(run())


# --------------------------------------------------------------------------- audit log


def audit_summary(database_url: str, *, since_seq: int = 0,
                  ip_filter: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Counts of audit events after ``since_seq``: by kind/outcome, login failures by reason
    and step, and Argon2 verifications (every password submission that got past the throttle
    and CAPTCHA verifies one hash: a failure at ``awaiting_credentials`` or a success whose
    methods start with the password). ``ip_filter`` keeps only events from matching IPs."""
    import sqlalchemy as sa

    from keepgate.adapters.sql import tables as t
    from keepgate.adapters.sql.engine import make_engine

    async def run() -> dict[str, Any]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                c = t.audit_events.c
                rows = (await conn.execute(
                    sa.select(c.seq, c.kind, c.outcome, c.account_id, c.ip, c.details)
                    .where(c.seq > since_seq).order_by(c.seq))).all()
                unknown = (await conn.execute(sa.select(
                    t.unknown_attempts.c.failed))).scalars().all()
        finally:
            await engine.dispose()
        kinds: dict[str, int] = {}
        reasons: dict[str, int] = {}
        hashes = 0
        per_account: dict[str, int] = {}
        last_seq = since_seq
        for row in rows:
            last_seq = max(last_seq, row.seq)
            if ip_filter is not None and not ip_filter(row.ip):
                continue
            key = f"{row.kind}:{row.outcome}"
            kinds[key] = kinds.get(key, 0) + 1
            details = row.details or {}
            if row.kind == "login" and row.outcome == "failure":
                reason = f"{details.get('reason')}@{details.get('step')}"
                reasons[reason] = reasons.get(reason, 0) + 1
                if details.get("step") == "awaiting_credentials":
                    hashes += 1
                    if row.account_id:
                        per_account[row.account_id] = per_account.get(row.account_id, 0) + 1
            elif row.kind == "login" and row.outcome == "success":
                methods = details.get("methods") or []
                if methods and methods[0] == "password":
                    hashes += 1
        return {"events": len(rows), "last_seq": last_seq, "by_kind": kinds,
                "login_failures_by_reason": reasons, "argon2_verifications": hashes,
                "hashed_failures_per_known_account": _distribution(list(per_account.values())),
                "hashed_failures_per_unknown_identifier": _distribution(list(unknown))}

    return asyncio.run(run())


def audit_last_seq(database_url: str) -> int:
    import sqlalchemy as sa

    from keepgate.adapters.sql import tables as t
    from keepgate.adapters.sql.engine import make_engine

    async def run() -> int:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                value = (await conn.execute(sa.select(sa.func.max(t.audit_events.c.seq)))
                         ).scalar_one_or_none()
        finally:
            await engine.dispose()
        return int(value or 0)

    return asyncio.run(run())


def _distribution(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"identifiers": 0}
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return {"identifiers": len(values), "total": sum(values), "max": max(values),
            "histogram": {str(k): counts[k] for k in sorted(counts)}}


# --------------------------------------------------------------------------- statistics


def describe(values: Sequence[float], scale: float = 1000.0, digits: int = 2
             ) -> dict[str, float | int | None]:
    """n, p10, p50, p90, p99, mean (``scale`` 1000: seconds in, milliseconds out)."""
    if not values:
        return {"n": 0, "p10": None, "p50": None, "p90": None, "p99": None, "mean": None}
    out: dict[str, float | int | None] = {"n": len(values)}
    for name, q in (("p10", 0.10), ("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
        v = quantile(values, q)
        out[name] = round(v * scale, digits)
    out["mean"] = round(statistics.fmean(values) * scale, digits)
    return out


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (type 7, as numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def bootstrap_median_difference(a: Sequence[float], b: Sequence[float], *,
                                resamples: int = 5000, seed: int = 1,
                                confidence: float = 0.95) -> dict[str, float]:
    """median(a) - median(b) with a percentile bootstrap interval (independent resampling
    of each arm)."""
    rng = random.Random(seed)
    diffs = []
    for _ in range(resamples):
        ra = [a[rng.randrange(len(a))] for _ in a]
        rb = [b[rng.randrange(len(b))] for _ in b]
        diffs.append(statistics.median(ra) - statistics.median(rb))
    tail = (1 - confidence) / 2
    return {"difference": statistics.median(a) - statistics.median(b),
            "ci_low": quantile(diffs, tail), "ci_high": quantile(diffs, 1 - tail),
            "resamples": resamples, "confidence": confidence}


def bootstrap_median(values: Sequence[float], *, resamples: int = 5000, seed: int = 2,
                     confidence: float = 0.95) -> dict[str, float]:
    """Median with a percentile bootstrap interval (e.g. of paired differences)."""
    rng = random.Random(seed)
    meds = [statistics.median([values[rng.randrange(len(values))] for _ in values])
            for _ in range(resamples)]
    tail = (1 - confidence) / 2
    return {"median": statistics.median(values), "ci_low": quantile(meds, tail),
            "ci_high": quantile(meds, 1 - tail), "resamples": resamples,
            "confidence": confidence}


# --------------------------------------------------------------------------- output


def results_file(name: str, label: str = "") -> Path:
    suffix = f"-{label}" if label else ""
    return bl.RESULTS / f"{name}{suffix}-{bl.timestamp()}.json"


def cpu_window() -> dict[str, float]:
    """Start of a CPU-accounting window (see ``cpu_window_end``)."""
    return {"busy": bl.machine_busy_seconds(), "self": bl.self_cpu_seconds(),
            "wall": time.perf_counter()}


def cpu_window_end(start: dict[str, float], *, server_cpu: float,
                   database_cpu: float = 0.0, cpus: int = 2) -> dict[str, float]:
    wall = time.perf_counter() - start["wall"]
    busy = bl.machine_busy_seconds() - start["busy"]
    client = bl.self_cpu_seconds() - start["self"]
    others = max(busy - client - server_cpu - database_cpu, 0.0)
    capacity = cpus * wall if wall > 0 else 1.0
    return {"wall_s": round(wall, 2), "client_cpu_s": round(client, 2),
            "server_cpu_s": round(server_cpu, 2), "database_cpu_s": round(database_cpu, 2),
            "other_processes_cpu_s": round(others, 2),
            "client_share": round(client / capacity, 3),
            "server_share": round(server_cpu / capacity, 3),
            "database_share": round(database_cpu / capacity, 3),
            "other_processes_share": round(others / capacity, 3)}
