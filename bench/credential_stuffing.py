"""A credential-stuffing run on loopback: an attacker with many IPs and many identifiers sends
wrong passwords at several times this machine's Argon2 budget while a few real users keep
signing in from their own IPs and trusted devices.

    .venv/bin/python bench/credential_stuffing.py                       # SQLite, memory, 2 workers
    .venv/bin/python bench/credential_stuffing.py --workers 1           # the embedded default
    .venv/bin/python bench/credential_stuffing.py --postgres --redis    # shared counters

1. A fresh database (SQLite, or ``--postgres``: ``keepgate_bench_<random>`` on 127.0.0.1)
   is seeded with ``--users`` real users and ``--victims`` other accounts (production
   Argon2id hashes, a trusted device each; only the real users present theirs).
2. ``keepgate serve --workers N`` starts with ``KEEPGATE_TRUSTED_PROXIES=127.0.0.1`` (so
   ``X-Forwarded-For`` from this client is believed) and, with ``--redis``,
   ``KEEPGATE_REDIS_URL`` on database 14 of the loopback Redis (keys the run creates are
   deleted afterwards). Without Redis each worker keeps its own counters in memory.
3. The Argon2 bound is measured with the server idle (2 threads, as signin_throughput does):
   *verifies/s*. The attack rate is ``--attack-multiplier`` (4) x verifies/s.
4. For ``--duration`` (60 s) or until ``--max-attempts`` are sent, whichever comes first:
   * the attacker, open loop at the attack rate (at most ``--max-in-flight`` at once), starts
     a login flow and submits a wrong password, from one of ``--attacker-ips`` (200) addresses
     in 198.18.0.0/15, for a known identifier (the victims and the real users) or, with
     probability ``--unknown-share``, one of ``--unknown-pool`` identifiers with no account.
     It never solves a CAPTCHA: a demand ends that attempt.
   * each real user signs in (password, trusted device, own address in 203.0.113.0/24)
     every ``--user-interval`` s.
   Every attempt and every sign-in is its own connection (like distinct clients), sent by a
   lean asyncio-streams client (``benchextra.RawHttp``): httpx would take a third of the
   two CPUs at these rates. Then in-flight requests get ``--drain`` s to finish, and the
   server is left to go idle.
5. Counted: client side, every answer by status and error code (401 = evaluated and refused,
   429 = throttled before any hash, 400 captcha.required = refused before any hash);
   server side, from the audit log, the Argon2 verifications (login failures at the password
   step, plus password successes) by source, and hashed attempts per identifier (audit per
   account; the unknown-identifier counters table). Memory: VmRSS of master and workers
   sampled every 0.5 s, and each process's VmHWM (kernel peak) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import benchextra as bx
import benchlib as bl

ATTACK_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
USER_NET = ipaddress.ip_network("203.0.113.0/24")  # TEST-NET-3
IP_FAILURES = 20  # DefencePolicy.ip_failures: per IP per 10 minutes
CAPTCHA_AFTER = 3  # DefencePolicy.captcha_after


def attacker_ip(i: int) -> str:
    return str(ATTACK_NET.network_address + 1 + i)


def classify(status: int, body: Any) -> str:
    code = ((body or {}).get("error") or {}).get("code", "") if isinstance(body, dict) else ""
    return f"{status}:{code}" if code else str(status)


async def password_sign_in(client: bx.RawHttp, identifier: str, password: str,
                           headers: dict[str, str]) -> str:
    """One sign-in by password on a fresh connection. Its outcome: "ok" when it completed,
    else the answer (``classify``) or the client-side error."""
    try:
        async with client.session() as http:
            status, body = await http.post("/api/v1/flows/login", headers=headers)
            if status != 201:
                return f"start:{classify(status, body)}"
            status, body = await http.post(
                f"/api/v1/flows/{body['id']}",
                {"method": "password", "identifier": identifier, "password": password},
                headers, close=True)
    except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
        return f"error:{type(error).__name__}"
    if status == 200 and (body or {}).get("state") == "completed":
        return "ok"
    return classify(status, body)


async def attack_and_users(base_url: str, *, rate: float, budget: int, duration: float,
                           max_in_flight: int, ips: list[str], known: list[str],
                           unknown: list[str], unknown_share: float,
                           users: list[bl.SeededAccount], user_interval: float,
                           drain: float, seed: int = 7) -> dict[str, Any]:
    bl.require_loopback(base_url)
    rng = random.Random(seed)
    attack: Counter[str] = Counter()
    attack_latency: dict[str, list[float]] = {}
    user_outcomes: Counter[str] = Counter()
    user_latency: list[float] = []
    user_latency_all: list[float] = []
    user_samples: list[tuple[float, int, float, str]] = []  # (start s, user, latency s, outcome)
    sent = 0
    lag_max = 0.0
    cap_wait_s = 0.0

    # A lean client (asyncio streams): the generator shares the CPUs with the server. Each
    # attempt and each sign-in is one fresh connection, like distinct clients.
    attacker_client = bx.RawHttp(base_url, timeout=120.0, user_agent="stuffer/1.0")
    user_client = bx.RawHttp(base_url, timeout=120.0)
    cpu0 = bx.cpu_window()

    async def one_attempt(i: int) -> None:
        ip = ips[i % len(ips)]
        if rng.random() < unknown_share:
            identifier = unknown[rng.randrange(len(unknown))]
        else:
            identifier = known[rng.randrange(len(known))]
        t0 = time.perf_counter()
        outcome = await password_sign_in(attacker_client, identifier,
                                         f"Summer{i % 100:02d}!guess", {"X-Forwarded-For": ip})
        attack[outcome] += 1
        attack_latency.setdefault(outcome, []).append(time.perf_counter() - t0)

    async def user_loop(number: int, account: bl.SeededAccount, start: float,
                        deadline: float) -> None:
        ip = str(USER_NET.network_address + 10 + number)
        headers = {"X-Forwarded-For": ip, **account.headers()}
        offset = user_interval * number / max(len(users), 1)
        for k in range(100_000):
            scheduled = start + offset + k * user_interval
            if scheduled >= deadline:
                return
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            t0 = time.perf_counter()
            outcome = await password_sign_in(user_client, account.email, bl.PASSWORD, headers)
            elapsed = time.perf_counter() - t0
            user_samples.append((round(t0 - start, 3), number, round(elapsed, 4), outcome))
            user_outcomes[outcome] += 1
            user_latency_all.append(elapsed)
            if outcome == "ok":
                user_latency.append(elapsed)

    in_flight: set[asyncio.Task[None]] = set()
    sem = asyncio.Semaphore(max_in_flight)
    start = time.perf_counter()
    deadline = start + duration
    user_tasks = [asyncio.create_task(user_loop(n, a, start, deadline))
                  for n, a in enumerate(users)]
    try:
        for i in range(budget):
            scheduled = start + i / rate
            now = time.perf_counter()
            if now >= deadline:
                break
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            t_cap = time.perf_counter()
            try:
                await asyncio.wait_for(sem.acquire(), timeout=remaining)
            except TimeoutError:
                cap_wait_s += time.perf_counter() - t_cap
                break
            cap_wait_s += time.perf_counter() - t_cap
            lag_max = max(lag_max, time.perf_counter() - scheduled)
            task = asyncio.create_task(one_attempt(i))
            in_flight.add(task)
            task.add_done_callback(lambda t: (in_flight.discard(t), sem.release()))
            sent += 1
        send_end = time.perf_counter()
        # Let in-flight requests finish (bounded), then give up on the rest.
        pending = [*in_flight, *user_tasks]
        if pending:
            _, still = await asyncio.wait(pending, timeout=max(deadline - time.perf_counter(),
                                                               0) + drain)
            for task in still:
                task.cancel()
            attack["cancelled_after_drain"] += sum(1 for t in still if t in in_flight)
            user_outcomes["cancelled_after_drain"] += sum(1 for t in still
                                                          if t in user_tasks)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*still, return_exceptions=True)
    finally:
        for task in [*in_flight, *user_tasks]:
            task.cancel()
    end = time.perf_counter()
    return {
        "attack": {"planned_rate_per_s": round(rate, 2), "budget": budget, "sent": sent,
                   "send_window_s": round(send_end - start, 2),
                   "achieved_rate_per_s": round(sent / max(send_end - start, 1e-9), 2),
                   "max_schedule_lag_s": round(lag_max, 2),
                   "blocked_by_in_flight_cap_s": round(cap_wait_s, 2),
                   "outcomes": dict(attack),
                   "latency_ms_by_outcome": {k: bx.describe(v, digits=1)
                                             for k, v in attack_latency.items()}},
        "users": {"count": len(users), "interval_s": user_interval,
                  "attempted": sum(user_outcomes.values()), "succeeded": user_outcomes["ok"],
                  "success_rate": round(user_outcomes["ok"] / max(sum(user_outcomes.values()),
                                                                  1), 4),
                  "outcomes": dict(user_outcomes),
                  "latency_ms_ok": bx.describe(user_latency, digits=1),
                  "latency_ms_all": bx.describe(user_latency_all, digits=1),
                  "samples": user_samples},
        "elapsed_s": round(end - start, 2), "cpu_window": cpu0,
    }


def wait_server_idle(srv: bl.Server, *, max_wait: float = 60.0, threshold: float = 0.05
                     ) -> float:
    """Wait (bounded) until the server's processes stop using CPU: requests the client gave
    up on may still be hashing, and their audit events are what we count."""
    t0 = time.perf_counter()
    previous = sum(srv.cpu_snapshot().values())
    for _ in range(int(max_wait) + 1):
        time.sleep(1.0)
        current = sum(srv.cpu_snapshot().values())
        if current - previous < threshold:
            break
        previous = current
        if time.perf_counter() - t0 > max_wait:
            break
    return round(time.perf_counter() - t0, 1)


def server_log_problems(srv: bl.Server) -> dict[str, Any]:
    text = srv.log_path.read_text(errors="replace") if srv.log_path.exists() else ""
    lines = text.splitlines()
    statuses: Counter[str] = Counter()
    for line in lines:
        if "HTTP/1.1\" " in line:
            statuses[line.rsplit('HTTP/1.1" ', 1)[1].split()[0]] += 1
    errors = [ln for ln in lines if ln.startswith(("ERROR", "Traceback"))
              or "Exception" in ln]
    return {"access_log_statuses": dict(statuses), "error_lines": len(errors),
            "first_error_lines": errors[:5]}


def run(args: argparse.Namespace, log: Any = print) -> dict[str, Any]:
    if not (0 < args.duration <= 300 and 1 <= args.max_attempts <= 50_000
            and 1 <= args.max_in_flight <= 1024 and 1 <= args.attacker_ips <= 60_000
            and 1 <= args.victims <= 5000 and 1 <= args.users <= 50
            and 0 <= args.unknown_share <= 1 and 1 <= args.unknown_pool <= 100_000
            and 0.1 <= args.user_interval <= 60 and 0 <= args.drain <= 120
            and 1 <= args.workers <= 8 and 0 < args.attack_multiplier <= 50):
        raise SystemExit("bench: a limit is out of range")
    cpus = os.cpu_count() or 1
    database = "postgres" if args.postgres else "sqlite"
    counters = "redis" if args.redis else "memory"
    result: dict[str, Any] = {
        "benchmark": "credential_stuffing", "machine": bl.machine_info(),
        "database": database, "counters": counters, "server_workers": args.workers,
        "settings": {k: getattr(args, k) for k in (
            "duration", "max_attempts", "max_in_flight", "attacker_ips", "victims", "users",
            "unknown_share", "unknown_pool", "user_interval", "attack_multiplier",
            "attack_rate", "drain", "argon2_seconds")}}
    redis_ctx = bx.redis_db(args.redis_url) if args.redis else contextlib.nullcontext({})
    with bl.workdir() as tmp, bl.database(database, tmp, args.postgres_admin_url) as db, \
            redis_ctx as redis_info:
        t0 = time.perf_counter()
        seeded = bl.seed_accounts(db.url, args.users + args.victims)
        users, victims = seeded[:args.users], seeded[args.users:]
        log(f"seeded {len(seeded)} accounts ({args.users} real users, {len(victims)} victims) "
            f"in {time.perf_counter() - t0:.1f} s ({database}, counters in {counters})")
        env = {"KEEPGATE_TRUSTED_PROXIES": "127.0.0.1"}
        if args.redis:
            env["KEEPGATE_REDIS_URL"] = args.redis_url
        srv = bx.server(db.url, workers=args.workers, logdir=tmp, extra_env=env)
        with srv:
            pids = bx.server_pids(srv)
            log(f"server {srv.base_url} processes {pids}")
            quiet = bl.wait_for_quiet(args.quiet_wait, log=log)
            bound = bl.argon2_bound(parallel=2, seconds=args.argon2_seconds, mode="threads")
            rate = args.attack_rate or args.attack_multiplier * bound["verifies_per_s"]
            budget = min(args.max_attempts, math.ceil(rate * args.duration))
            log(f"argon2 bound {bound['verifies_per_s']:.1f} verifies/s (one verify "
                f"{bound['single_verify_ms']} ms); attack {rate:.1f} attempts/s, budget "
                f"{budget} attempts over at most {args.duration:.0f} s")
            for account in users:  # warm both workers and check the users can sign in
                bl.sign_in(srv.base_url, account)
            known = [a.email for a in victims] + [a.email for a in users]
            unknown = [f"nobody-{k:06d}@example.net" for k in range(args.unknown_pool)]
            ips = [attacker_ip(i) for i in range(args.attacker_ips)]
            since = bx.audit_last_seq(db.url)
            cpu_before, db_before = srv.cpu_snapshot(), bl.database_cpu_snapshot(db)
            with bx.MemorySampler(pids, interval=0.5,
                                  max_seconds=args.duration + args.drain + 180) as sampler:
                load = asyncio.run(attack_and_users(
                    srv.base_url, rate=rate, budget=budget, duration=args.duration,
                    max_in_flight=args.max_in_flight, ips=ips, known=known, unknown=unknown,
                    unknown_share=args.unknown_share, users=users,
                    user_interval=args.user_interval, drain=args.drain))
                idle_after = wait_server_idle(srv, max_wait=90.0)
            server_cpu = srv.cpu_delta(cpu_before)
            window = load.pop("cpu_window")
            load["cpu"] = bx.cpu_window_end(window, server_cpu=server_cpu["total"],
                                            database_cpu=bl.database_cpu_delta(db, db_before),
                                            cpus=cpus)
            load["cpu"]["server_per_process"] = server_cpu
            load["server_idle_after_s"] = idle_after
            memory = sampler.report()
            send = load["attack"]["send_window_s"]
            memory["growth_during_attack"] = sampler.growth(0.25 * send, send)
            hashed_attempts = load["attack"]["sent"] * 0.75
            slope = memory["growth_during_attack"]["delta_mib"]
            memory["growth_during_attack"]["kib_per_attempt"] = (
                round(1024 * slope / hashed_attempts, 2) if slope is not None
                and hashed_attempts else None)
            log_problems = server_log_problems(srv)
        attacker_net = ATTACK_NET
        audit_attack = bx.audit_summary(
            db.url, since_seq=since,
            ip_filter=lambda ip: _in(ip, attacker_net))
        audit_users = bx.audit_summary(db.url, since_seq=since,
                                       ip_filter=lambda ip: _in(ip, USER_NET))
    workers_counting = 1 if args.redis else args.workers
    cap_ip = args.attacker_ips * IP_FAILURES * workers_counting
    hashed = audit_attack["argon2_verifications"]
    outcomes = load["attack"]["outcomes"]
    evaluated_client = outcomes.get("401:login.invalid_credentials", 0)
    result.update({
        "argon2": bound, "quiet_before": quiet, "attack_rate_per_s": round(rate, 2),
        "load": load, "memory": memory, "server_log": log_problems,
        "redis": redis_info,
        "audit": {"attacker": audit_attack, "users": audit_users},
        "hash_accounting": {
            "attacker_attempts_sent": load["attack"]["sent"],
            "attacker_argon2_verifications_audit": hashed,
            "attacker_refused_after_hash_client": evaluated_client,
            "throttled_429_client": outcomes.get("429:throttle.too_many_attempts", 0),
            "captcha_demanded_client": outcomes.get("400:captcha.required", 0),
            "share_reaching_hash": round(hashed / max(load["attack"]["sent"], 1), 3),
            "attacker_hashes_per_s": round(hashed / max(load["attack"]["send_window_s"], 1e-9),
                                           2),
            "policy_cap_ip_budget": cap_ip,
            "policy_cap_note": f"{args.attacker_ips} IPs x {IP_FAILURES} failures per 10 min"
                               + (f" x {args.workers} workers (each counts alone)"
                                  if workers_counting > 1 else ""),
            "identifier_captcha_after": CAPTCHA_AFTER * workers_counting,
        },
    })
    # What an attempt costs the server: all server CPU over every attempt (attacker and real
    # users), and the same less one single-thread verify per hash (what the rest costs).
    attempts = load["attack"]["sent"] + load["users"]["attempted"]
    all_hashes = hashed + result["audit"]["users"]["argon2_verifications"]
    server_ms = 1000 * load["cpu"]["server_cpu_s"]
    result["hash_accounting"]["server_cpu_ms_per_attempt"] = round(
        server_ms / max(attempts, 1), 1)
    result["hash_accounting"]["server_cpu_ms_per_attempt_besides_hashing"] = round(
        (server_ms - all_hashes * bound["single_verify_ms"]) / max(attempts, 1), 1)
    result["caveats"] = [
        bl.CPU_CAVEAT.format(cpus=cpus),
        "the attacker never solves a CAPTCHA; one that does pays ~2 s of CPU per attempt",
    ]
    if load["cpu"]["other_processes_share"] > 0.05:
        result["caveats"].append(
            f"other processes used {100 * load['cpu']['other_processes_share']:.0f}% of the "
            "CPUs during the run: the machine was shared")
    if load["attack"]["achieved_rate_per_s"] < 0.9 * rate:
        result["caveats"].append(
            f"the attacker sent {load['attack']['achieved_rate_per_s']}/s, under the planned "
            f"{rate:.1f}/s: {args.max_in_flight} attempts were in flight (the cap) for "
            f"{load['attack']['blocked_by_in_flight_cap_s']} s, so the attacker went at the "
            "server's pace, with a queue of that length in front of every real user")
    return result


def _in(ip: str, net: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def report(result: dict[str, Any]) -> str:
    load, acc, mem = result["load"], result["hash_accounting"], result["memory"]
    users, attack = load["users"], load["attack"]
    ok = users["latency_ms_ok"]
    reasons = result["audit"]["attacker"]["login_failures_by_reason"]
    per_known = result["audit"]["attacker"]["hashed_failures_per_known_account"]
    per_unknown = result["audit"]["attacker"]["hashed_failures_per_unknown_identifier"]
    procs = ", ".join(f"{n} {p['rss_before_mib']}->{p['vmhwm_mib']} MiB"
                      for n, p in mem["processes"].items())
    lines = [
        f"Credential stuffing ({result['database']}, counters in {result['counters']}, "
        f"{result['server_workers']} worker(s); {result['settings']['attacker_ips']} attacker "
        f"IPs, {result['settings']['users']} real users every "
        f"{result['settings']['user_interval']} s):",
        f"  argon2 bound          {result['argon2']['verifies_per_s']} verifies/s; attack "
        f"planned {result['attack_rate_per_s']}/s, achieved {attack['achieved_rate_per_s']}/s "
        f"over {attack['send_window_s']} s",
        f"  real users            {users['succeeded']}/{users['attempted']} ok "
        f"({100 * users['success_rate']:.1f}%), latency p50 {bl.fmt(ok['p50'])} ms, p99 "
        f"{bl.fmt(ok['p99'])} ms (all attempts p99 {bl.fmt(users['latency_ms_all']['p99'])} "
        f"ms); outcomes {users['outcomes']}",
        f"  attacker              sent {attack['sent']}; outcomes {attack['outcomes']}",
        f"  reached the hash      {acc['attacker_argon2_verifications_audit']} by the audit log "
        f"({100 * acc['share_reaching_hash']:.1f}% of sent, "
        f"{acc['attacker_hashes_per_s']}/s), client saw {acc['attacker_refused_after_hash_client']}"
        f" x 401; policy cap {acc['policy_cap_ip_budget']} ({acc['policy_cap_note']})",
        f"  refused before hash   429 throttled {acc['throttled_429_client']}, captcha demanded "
        f"{acc['captcha_demanded_client']}",
        f"  server CPU / attempt  {acc['server_cpu_ms_per_attempt']} ms, of which "
        f"{acc['server_cpu_ms_per_attempt_besides_hashing']} ms besides Argon2 (two requests, "
        "flow writes, audit)",
        f"  failures by reason    {reasons}",
        f"  hashed per identifier known: max {per_known.get('max')} over "
        f"{per_known.get('identifiers')}; unknown: max {per_unknown.get('max')} over "
        f"{per_unknown.get('identifiers')} (captcha after {acc['identifier_captcha_after']})",
        f"  memory (RSS before -> VmHWM)  {procs}; sum of sampled RSS peak "
        f"{mem['sum_rss_peak_sampled_mib']} MiB; last 3/4 of the attack "
        f"{mem['growth_during_attack']['delta_mib']:+} MiB "
        f"({mem['growth_during_attack']['kib_per_attempt']} KiB per attempt)",
        f"  CPU                   client {100 * load['cpu']['client_share']:.0f}%, server "
        f"{100 * load['cpu']['server_share']:.0f}%, PostgreSQL "
        f"{100 * load['cpu']['database_share']:.0f}%, other processes "
        f"{100 * load['cpu']['other_processes_share']:.0f}% of the CPUs; server idle "
        f"{load['server_idle_after_s']} s after",
        f"  server log            {result['server_log']['access_log_statuses']}, "
        f"{result['server_log']['error_lines']} error lines",
        f"  {bl.describe_source(result.get('source'))}",
        *(f"  caveat: {c}" for c in result["caveats"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bl.argument_parser(__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis", action="store_true",
                        help="shared counters in Redis (KEEPGATE_REDIS_URL)")
    parser.add_argument("--redis-url", default=bx.REDIS_URL)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of attack (cap)")
    parser.add_argument("--max-attempts", type=int, default=20_000, help="attack budget (cap)")
    parser.add_argument("--attack-multiplier", type=float, default=4.0,
                        help="attack rate = this x the measured Argon2 verifies/s")
    parser.add_argument("--attack-rate", type=float, default=None,
                        help="attempts/s, instead of the multiplier")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--attacker-ips", type=int, default=200)
    parser.add_argument("--victims", type=int, default=200,
                        help="accounts the attacker guesses on (besides the real users)")
    parser.add_argument("--unknown-share", type=float, default=0.5,
                        help="share of guesses on identifiers with no account")
    parser.add_argument("--unknown-pool", type=int, default=5000)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--user-interval", type=float, default=2.0)
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds for in-flight requests to finish after the attack")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument("--json", help="result file (default bench/results/...)")
    args = parser.parse_args(argv)
    return bl.run_and_report(args, argv, lambda: run(args), report, default_results_file)


def default_results_file(result: dict[str, Any]) -> Path:
    label = f"{result['database']}-{result['counters']}-w{result['server_workers']}"
    return bx.results_file("credential_stuffing", label)


if __name__ == "__main__":
    raise SystemExit(main())
