"""Shared helpers for the hand-run benchmarks in ``bench/`` (not part of the test suite).

Everything here is bounded: servers are started in their own process group and always
stopped, every wait loop has a count and a time limit, and only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
BIN = ROOT / ".venv" / "bin"
KEEPGATE = BIN / "keepgate"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
HOST = "127.0.0.1"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Passes the strength screen; only ever used for throw-away bench databases.
PASSWORD = "correct horse battery staple orbit"  # noqa: S105
USER_AGENT = "keepgate-bench/1 (hand-run benchmark)"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Where keepgate is imported from: the working tree (the editable install), or a snapshot of
# a git revision (``--ref``) so that edits in progress in the working tree cannot break a run.
_SNAPSHOT: Path | None = None


# --------------------------------------------------------------------------- safety


def require_loopback(url_or_host: str) -> str:
    """Refuse any target that is not this machine's loopback interface."""
    host = urlsplit(url_or_host).hostname if "://" in url_or_host else url_or_host
    if host not in LOOPBACK:
        raise SystemExit(f"bench: refusing non-loopback target {host!r}")
    return url_or_host


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so ``finally`` blocks still stop servers and drop databases."""
    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- source


def _git(*args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise SystemExit("bench: git not found")
    return subprocess.run([git, "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


@contextlib.contextmanager
def keepgate_source(ref: str | None) -> Iterator[dict[str, Any]]:
    """Benchmark the working tree (``ref`` None) or ``git archive <ref>`` unpacked in a
    temp dir, put first on the path of this process and of every server it starts."""
    global _SNAPSHOT
    if "keepgate" in sys.modules:
        raise RuntimeError("keepgate_source() must come before keepgate is imported")
    head = _git("rev-parse", "HEAD")
    if ref is None:
        dirty = bool(_git("status", "--porcelain", "--", "keepgate"))
        yield {"kind": "working tree", "head": head, "dirty": dirty}
        return
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="keepgate-bench-src-") as tmp:
        git = shutil.which("git") or "git"
        archive = subprocess.run([git, "-C", str(ROOT), "archive", "--format=tar",
                                  commit, "keepgate"], check=True, capture_output=True,
                                 timeout=60).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        _SNAPSHOT = Path(tmp)
        sys.path.insert(0, tmp)
        try:
            yield {"kind": "git revision", "ref": ref, "commit": commit}
        finally:
            sys.path.remove(tmp)
            _SNAPSHOT = None


# --------------------------------------------------------------------------- CPU accounting


def self_cpu_seconds() -> float:
    """CPU (user + system) used so far by this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """CPU used by this process's children that have been waited for (e.g. wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                .decode(errors="replace"))
    except OSError:
        return ""


def database_cpu_snapshot(db: Database) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving our database (they run on this machine
    too); empty for SQLite, which runs inside the server processes."""
    if db.kind != "postgres":
        return {}
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            command = _cmdline(int(entry.name))
            if command.startswith("postgres:") and f" {db.name} " in command:
                cpu = proc_cpu_seconds(int(entry.name))
                if cpu is not None:
                    found[int(entry.name)] = cpu
    return found


def database_cpu_delta(db: Database, before: dict[int, float]) -> float:
    after = database_cpu_snapshot(db)
    return round(sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()), 3)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs, all processes) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_pressure() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    return ""


def wait_for_quiet(max_wait: float, *, threshold_cores: float = 0.3,
                   log: Any = print) -> dict[str, Any]:
    """Wait (at most ``max_wait`` s) until the rest of the machine uses under
    ``threshold_cores`` CPUs over one second: other people's work skews every figure here."""
    deadline = time.monotonic() + max_wait
    busy = 0.0
    for attempt in range(int(max_wait) + 2):
        before_busy, before_self = machine_busy_seconds(), self_cpu_seconds()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - before_busy) - (self_cpu_seconds() - before_self)
        if busy < threshold_cores:
            return {"quiet": True, "other_cores": round(busy, 2), "waited_s": attempt}
        if attempt == 0:
            log(f"machine busy ({busy:.2f} CPUs used by other processes); waiting up to "
                f"{max_wait:.0f} s for it to quieten ...")
        if time.monotonic() > deadline:
            break
    log(f"WARNING: machine still busy ({busy:.2f} CPUs used by others); measuring anyway")
    return {"quiet": False, "other_cores": round(busy, 2), "waited_s": round(max_wait)}


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "loadavg": list(os.getloadavg()),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_pressure": cpu_pressure()}


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    url: str  # the SQLAlchemy URL keepgate uses
    kind: str  # "sqlite" or "postgres"
    name: str


def _run_admin_sql(admin_url: str, statement: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def keepgate_env(database_url: str, *, port: int | None = None,
                 workers: int = 1) -> dict[str, str]:
    """A clean environment: inherited KEEPGATE_* variables are dropped, ours set explicitly
    (production Argon2 parameters: m=19 MiB, t=2, p=1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPGATE_")}
    env.update({
        "KEEPGATE_ENV": "development",
        "KEEPGATE_DATABASE_URL": database_url,
        "KEEPGATE_HOST": HOST,
        "KEEPGATE_WORKERS": str(workers),
        "KEEPGATE_ARGON2_MEMORY_KIB": str(19 * 1024),
        "KEEPGATE_ARGON2_TIME_COST": "2",
        "KEEPGATE_ARGON2_PARALLELISM": "1",
    })
    if _SNAPSHOT is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SNAPSHOT),
                                                          env.get("PYTHONPATH")]))
    if port is not None:
        env["KEEPGATE_PORT"] = str(port)
        env["KEEPGATE_PUBLIC_URL"] = f"http://{HOST}:{port}"
    return env


def migrate(database_url: str) -> None:
    subprocess.run([str(KEEPGATE), "migrate"], env=keepgate_env(database_url),
                   cwd=tempfile.gettempdir(), check=True, timeout=120, capture_output=True)


@contextlib.contextmanager
def database(kind: str, workdir: Path,
             postgres_admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[Database]:
    """A fresh, migrated database of our own: a SQLite file in ``workdir``, or a
    ``keepgate_bench_<random>`` database on the loopback PostgreSQL, dropped afterwards."""
    if kind == "sqlite":
        path = workdir / "keepgate.db"
        db = Database(f"sqlite+aiosqlite:///{path}", "sqlite", str(path))
        migrate(db.url)
        yield db
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}")
    require_loopback(postgres_admin_url)
    name = f"keepgate_bench_{secrets.token_hex(4)}"
    parts = urlsplit(postgres_admin_url)
    url = urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))
    _run_admin_sql(postgres_admin_url, f'CREATE DATABASE "{name}"')
    try:
        migrate(url)
        yield Database(url, "postgres", name)
    finally:
        _run_admin_sql(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="keepgate-bench-") as tmp:
        yield Path(tmp)


# --------------------------------------------------------------------------- seeding


DEVICE_HEADER = "X-Keepgate-Device"


@dataclass(frozen=True)
class SeededAccount:
    email: str
    device_token: str | None  # a trusted device of this account, when the schema has them

    def headers(self) -> dict[str, str]:
        return {DEVICE_HEADER: self.device_token} if self.device_token else {}


def seed_accounts(database_url: str, count: int, *, password: str = PASSWORD,
                  threads: int = 2, time_limit: float = 300.0) -> list[SeededAccount]:
    """Insert ``count`` restricted accounts (as after sign-up) straight into the database,
    each with its own Argon2id hash at the production parameters.

    When the code has trusted devices (new-device confirmation), each account also gets one,
    as if it had signed in from this client before: a returning user on a known device signs
    in with the password alone, which is what the benchmark measures."""
    import sqlalchemy as sa

    from keepgate.adapters.sql import tables as t
    from keepgate.adapters.sql.engine import make_engine
    from keepgate.security.passwords import HashParams, PasswordHasher
    from keepgate.security.tokens import hash_token, new_id, new_token

    if not 1 <= count <= 20_000:
        raise SystemExit("bench: seed between 1 and 20000 accounts")
    hasher = PasswordHasher(HashParams())
    deadline = time.monotonic() + time_limit
    hashes: list[str] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:  # argon2 releases the GIL
        for start in range(0, count, 64):
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: seeding exceeded {time_limit:.0f} s")
            batch = min(64, count - start)
            hashes.extend(pool.map(hasher.hash, [password] * batch))
    now = datetime.now(UTC)
    devices = getattr(t, "trusted_devices", None)
    seeded = [SeededAccount(f"bench-{i:05d}@example.com",
                            new_token() if devices is not None else None) for i in range(count)]
    rows = [{"id": new_id(), "email": a.email, "phone": None, "password_hash": digest,
             "status": "restricted", "kyc_tier": 0, "created_at": now}
            for a, digest in zip(seeded, hashes, strict=True)]
    device_rows = [{"id": new_id(), "account_id": row["id"],
                    "token_hash": hash_token(a.device_token), "created_at": now,
                    "expires_at": now + timedelta(days=30), "last_used_at": now,
                    "ip": HOST, "user_agent": USER_AGENT}
                   for a, row in zip(seeded, rows, strict=True) if a.device_token]

    async def insert() -> None:
        engine = make_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.insert(t.accounts), rows)
                if devices is not None and device_rows:
                    await conn.execute(sa.insert(devices), device_rows)
        finally:
            await engine.dispose()

    asyncio.run(insert())
    return seeded


# --------------------------------------------------------------------------- the server


class Server:
    """``keepgate serve --workers N`` in its own process group; always stopped on exit."""

    def __init__(self, database_url: str, *, workers: int = 2, logdir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.workers = workers
        self.env = keepgate_env(database_url, port=self.port, workers=workers)
        self.log_path = logdir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                [str(KEEPGATE), "serve", "--workers", str(self.workers)], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.log_path.parent, start_new_session=True)
        finally:
            log.close()
        try:
            self._wait_ready(timeout=60.0)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.1) + 1):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            started = self.log_path.read_text(errors="replace").count(
                "Application startup complete")
            if started >= self.workers and len(self.worker_pids()) >= self.workers:
                with contextlib.suppress(OSError), urllib.request.urlopen(  # noqa: S310
                        f"{self.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        if self.workers == 1:  # uvicorn serves in the main process then
            return [self.proc.pid]
        return sorted(p for p in _children(self.proc.pid) if "spawn_main" in _cmdline(p))

    def cpu_snapshot(self) -> dict[int, float]:
        """CPU seconds so far of the master and of each worker process."""
        assert self.proc is not None
        pids = {self.proc.pid, *self.worker_pids()}
        return {pid: cpu for pid in pids if (cpu := proc_cpu_seconds(pid)) is not None}

    def cpu_delta(self, before: dict[int, float]) -> dict[str, Any]:
        after = self.cpu_snapshot()
        assert self.proc is not None
        pids = self.worker_pids()
        workers = {str(pid): round(after[pid] - before.get(pid, 0.0), 3)
                   for pid in pids if pid in after}
        master = 0.0 if self.proc.pid in pids else round(
            after.get(self.proc.pid, 0.0) - before.get(self.proc.pid, 0.0), 3)
        busiest = max(workers.values(), default=0.0)
        # 1.0: the workers did equal work; near 0: one worker served (almost) everything.
        balance = round(min(workers.values()) / busiest, 2) if busiest > 0 else None
        return {"workers": workers, "master": master,
                "total": round(sum(workers.values()) + master, 3), "balance": balance}

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # start_new_session: the group id is its pid
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers left behind by a killed master are in the same group: make sure.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def get_json_with_token(url: str, token: str, timeout: float = 10.0) -> Any:
    require_loopback(url)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",  # noqa: S310
                                                   "User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


def sign_in(base_url: str, account: SeededAccount, password: str = PASSWORD) -> str:
    """One complete API sign-in; returns the bearer token."""
    import httpx

    require_loopback(base_url)
    with httpx.Client(base_url=base_url, timeout=30.0,
                      headers={"User-Agent": USER_AGENT, **account.headers()}) as client:
        flow = client.post("/api/v1/flows/login")
        flow.raise_for_status()
        done = client.post(f"/api/v1/flows/{flow.json()['id']}", json={
            "method": "password", "identifier": account.email, "password": password})
        done.raise_for_status()
        body = done.json()
        if body.get("state") != "completed":
            raise RuntimeError(f"sign-in did not complete: {body}")
        return str(body["session"]["token"])


# --------------------------------------------------------------------------- sign-in rounds


def _verify_loop(password_hash: str | None, seconds: float, max_count: int) -> tuple[int, float]:
    """Verify in a loop for ``seconds`` (at most ``max_count`` times); (count, elapsed)."""
    from keepgate.security.passwords import HashParams, PasswordHasher

    hasher = PasswordHasher(HashParams())  # production parameters: m=19 MiB, t=2, p=1
    digest = password_hash or hasher.hash(PASSWORD)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while count < max_count and time.perf_counter() < deadline:
        hasher.verify(digest, PASSWORD)
        count += 1
    return count, time.perf_counter() - start


def argon2_bound(*, parallel: int, seconds: float, mode: str,
                 max_per_worker: int = 100_000) -> dict[str, Any]:
    from keepgate.security.passwords import HashParams, PasswordHasher

    params = HashParams()
    digest = PasswordHasher(params).hash(PASSWORD)
    single_count, single_elapsed = _verify_loop(digest, min(2.0, seconds), max_per_worker)
    results: list[tuple[int, float]] = []
    busy_before, self_before = machine_busy_seconds(), self_cpu_seconds()
    children_before = children_cpu_seconds()
    wall_start = time.perf_counter()
    if mode == "threads":  # argon2-cffi releases the GIL while hashing
        lock = threading.Lock()

        def work() -> None:
            outcome = _verify_loop(digest, seconds, max_per_worker)
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(parallel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=parallel, mp_context=context) as pool:
            futures = [pool.submit(_verify_loop, digest, seconds, max_per_worker)
                       for _ in range(parallel)]
            results = [f.result(timeout=seconds + 60) for f in futures]
    wall = time.perf_counter() - wall_start
    ours = (self_cpu_seconds() - self_before) + (children_cpu_seconds() - children_before)
    others = (machine_busy_seconds() - busy_before) - ours
    total = sum(count for count, _ in results)
    return {
        "params": {"memory_kib": params.memory_kib, "time_cost": params.time_cost,
                   "parallelism": params.parallelism},
        "mode": mode, "parallel": parallel, "seconds": seconds,
        "verifies": total,
        "verifies_per_s": round(sum(c / e for c, e in results if e > 0), 2),
        "verifies_per_s_wall": round(total / wall, 2) if wall > 0 else None,
        "single_thread_verifies_per_s": round(single_count / single_elapsed, 2),
        "single_verify_ms": round(1000 * single_elapsed / max(single_count, 1), 2),
        "other_processes_cpu_s": round(max(others, 0.0), 2),
        "other_processes_cores": round(max(others, 0.0) / wall, 2) if wall > 0 else None,
    }


def summarise_round(load: dict[str, Any], bound: dict[str, Any], cpus: int) -> dict[str, Any]:
    """CPU shares, CPU per sign-in and the ratio of one round."""
    capacity = cpus * load["elapsed_s"]
    server_cpu = load["server_cpu_s"]["total"]
    others = max(load.pop("machine_busy_cpu_s") - load["client_cpu_s"] - server_cpu
                 - load["database_cpu_s"], 0.0)
    load["client_cpu_share"] = round(load["client_cpu_s"] / capacity, 3)
    load["server_cpu_share"] = round(server_cpu / capacity, 3)
    load["database_cpu_share"] = round(load["database_cpu_s"] / capacity, 3)
    done = max(load["succeeded"], 1)
    load["cpu_ms_per_signin"] = {"server": round(1000 * server_cpu / done, 2),
                                 "database": round(1000 * load["database_cpu_s"] / done, 2),
                                 "client": round(1000 * load["client_cpu_s"] / done, 2)}
    load["other_processes_cpu_s"] = round(others, 2)
    load["other_processes_share"] = round(others / capacity, 3)
    ratio = (round(load["signins_per_s"] / bound["verifies_per_s"], 3)
             if bound["verifies_per_s"] else None)
    disturbance = load["other_processes_share"] + (bound["other_processes_cores"] or 0) / cpus
    return {"argon2": bound, "signin": load, "ratio_signins_to_verifies": ratio,
            "disturbance": round(disturbance, 3)}


def measure_signin_rounds(server: Server, db: Database, *, rounds: int, argon2_parallel: int,
                          argon2_seconds: float, argon2_mode: str, quiet_wait: float,
                          drive: Callable[[int], dict[str, Any]],
                          log: Any = print) -> list[dict[str, Any]]:
    """Each round: the Argon2 bound with the server idle, then ``drive(round number)`` puts the
    sign-in load on it, each after waiting for the machine to be quiet. Returns every round's
    summary (``summarise_round``)."""
    cpus = os.cpu_count() or 1
    measured: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        quiet_argon2 = wait_for_quiet(quiet_wait, log=log)
        bound = argon2_bound(parallel=argon2_parallel, seconds=argon2_seconds, mode=argon2_mode)
        log(f"  round {number}: argon2 bound {bound['verifies_per_s']:.1f} verifies/s "
            f"({argon2_parallel} {argon2_mode}, server idle; one verify "
            f"{bound['single_verify_ms']:.1f} ms on one thread)")
        quiet_load = wait_for_quiet(quiet_wait, log=log)
        before, db_before = server.cpu_snapshot(), database_cpu_snapshot(db)
        load = drive(number)
        load["server_cpu_s"] = server.cpu_delta(before)
        load["database_cpu_s"] = database_cpu_delta(db, db_before)
        one = summarise_round(load, bound, cpus)
        one["quiet_before"] = {"argon2": quiet_argon2, "load": quiet_load}
        measured.append(one)
        log(f"  round {number}: {load['signins_per_s']:.2f} sign-ins/s "
            f"(ratio {one['ratio_signins_to_verifies']}), other processes "
            f"{100 * load['other_processes_share']:.0f}% of the CPUs, outcomes "
            f"{load['outcomes']}")
    return measured


def keep_least_disturbed(result: dict[str, Any], measured: list[dict[str, Any]]) -> None:
    """Report the round other processes disturbed least, with the caveats of a sign-in run."""
    best = min(measured, key=lambda r: r["disturbance"])
    result.update(best)
    result["chosen_round"] = measured.index(best) + 1
    result["rounds"] = measured
    load, bound = best["signin"], best["argon2"]
    result["caveats"] = [
        CPU_CAVEAT.format(cpus=os.cpu_count() or 1),
        "the Argon2 bound is measured in the benchmark process while the server is idle",
    ]
    if load["other_processes_share"] > 0.05 or (bound["other_processes_cores"] or 0) > 0.1:
        result["caveats"].append(
            f"other processes used {100 * load['other_processes_share']:.0f}% of the CPUs "
            f"during the load and {bound['other_processes_cores']} CPUs during the Argon2 "
            "measurement: the machine was shared, the figures are pessimistic")


# --------------------------------------------------------------------------- output


def argument_parser(description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with the options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common_arguments(parser)
    return parser


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--postgres", action="store_true",
                        help="use a throw-away database on the loopback PostgreSQL")
    parser.add_argument("--postgres-admin-url", default=POSTGRES_ADMIN_URL,
                        help="where to CREATE/DROP the keepgate_bench_<random> database")
    parser.add_argument("--ref", help="benchmark this git revision (e.g. HEAD) instead of the "
                        "working tree: keepgate/ is exported to a temp dir with git archive")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="wait up to this many seconds for other CPU use to stop")


def run_and_report(args: argparse.Namespace, argv: list[str] | None,
                   measure: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], str],
                   default_path: Callable[[dict[str, Any]], Path] | None = None) -> int:
    """What every benchmark does around its measurement: stop cleanly on SIGTERM, measure the
    chosen keepgate source, print the report, and write the result to ``--json`` (else to
    ``default_path(result)``, if given)."""
    exit_cleanly_on_sigterm()
    with keepgate_source(args.ref) as source:
        result = measure()
    result["source"] = source
    result["argv"] = argv if argv is not None else sys.argv[1:]
    print(report(result))
    path = Path(args.json) if args.json else default_path(result) if default_path else None
    if path is not None:
        print(f"  results: {write_json(path, result)}")
    return 0


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def describe_source(source: dict[str, Any] | None) -> str:
    if not source:
        return "keepgate: working tree"
    if source["kind"] == "working tree":
        dirty = " with uncommitted changes" if source["dirty"] else ""
        return f"keepgate: working tree (HEAD {source['head'][:10]}{dirty})"
    return f"keepgate: {source['ref']} = {source['commit'][:10]} (git archive snapshot)"


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


CPU_CAVEAT = ("the load generator runs on the same {cpus} CPUs as the server, so it takes CPU "
              "the server would otherwise have; its own CPU use is reported alongside")
