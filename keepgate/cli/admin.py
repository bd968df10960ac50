"""``keepgate admin``: an operator's tasks, run against the configured database.

    keepgate admin find ACCOUNT
    keepgate admin lift-ban ACCOUNT --reason "..."
    keepgate admin unlock ACCOUNT --reason "..."
    keepgate admin end-sessions ACCOUNT --reason "..."
    keepgate admin audit ACCOUNT [--limit N] [--before SEQ]
    keepgate admin verify-audit
    keepgate admin reencrypt-secrets --reason "..."

ACCOUNT is an account id, an email address or a phone number in international form. Every
change needs ``--reason`` and is recorded in the audit log with the operator's name
(``--operator``, by default the login name). Exit status: 0 done, 1 refused or found wanting
(a broken audit chain, secrets that would not decrypt), 2 bad usage or configuration, 130
interrupted. Data from the database is printed as plain text, never as terminal markup.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from keepgate.config import Settings
from keepgate.domain.audit import Actor
from keepgate.services.admin import AccountSummary, AdminError, AdminService, Operator
from keepgate.services.clock import Clock

Task = Callable[[AdminService, argparse.Namespace, Console], Awaitable[int]]
INTERRUPTED = 130


def add_admin_commands(commands: Any) -> None:
    """Add ``admin`` and its tasks to the top-level ``commands`` (argparse sub-parsers)."""
    admin = commands.add_parser("admin", help="operator tasks: find and help an account, "
                                "check the audit log, re-encrypt secrets")
    tasks = admin.add_subparsers(dest="task", required=True)
    _with_account(tasks.add_parser("find", help="show an account (never its secrets)"))
    _with_reason(_with_account(tasks.add_parser("lift-ban", help="end a sign-in ban")))
    _with_reason(_with_account(tasks.add_parser(
        "unlock", help="lift a \"this wasn't me\" lock once the owner has proven who they are")))
    _with_reason(_with_account(tasks.add_parser("end-sessions",
                                                help="sign the customer out everywhere")))
    trail = _with_account(tasks.add_parser("audit", help="an account's audit trail, newest "
                                           "first"))
    trail.add_argument("--limit", type=_positive, default=50, help="entries (default 50)")
    trail.add_argument("--before", type=_positive, metavar="SEQ",
                       help="only entries older than SEQ (the next page)")
    tasks.add_parser("verify-audit", help="recompute the audit log's hash chain")
    _with_reason(tasks.add_parser(
        "reencrypt-secrets", help="re-encrypt stored secrets under the first "
        "KEEPGATE_ENCRYPTION_KEYS key (resumable: run it again after an interruption)"))


def run_admin(args: argparse.Namespace, settings: Settings, clock: Clock | None) -> int:
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return asyncio.run(_run(TASKS[args.task], args, settings, clock, out))
    except AdminError as error:
        err.print(Text(f"keepgate admin: {error}"))
        return 1
    except KeyboardInterrupt:
        err.print("keepgate admin: interrupted; whatever was written is complete, and running "
                  "the command again carries on")
        return INTERRUPTED


async def _run(task: Task, args: argparse.Namespace, settings: Settings, clock: Clock | None,
               out: Console) -> int:
    from keepgate.wiring import build  # after serve's metrics set-up, never before it

    kg = build(settings, clock=clock)
    try:
        return await task(kg.admin, args, out)
    finally:
        await kg.close()


async def _find(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    out.print(_summary(await admin.find(args.account)))
    return 0


async def _lift_ban(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    account = await admin.lift_ban(args.account, _operator(args))
    out.print(Text(f"ban lifted on account {account.id}; the event is in the audit log"))
    return 0


async def _unlock(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    account = await admin.unlock(args.account, _operator(args))
    out.print(Text(f"sign-in unlocked on account {account.id}; the event is in the audit log"))
    return 0


async def _end_sessions(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    ended = await admin.end_sessions(args.account, _operator(args))
    out.print(Text(f"{ended} session(s) ended; the event is in the audit log"))
    return 0


async def _audit(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    account, records = await admin.audit_trail(args.account, limit=args.limit,
                                               before_seq=args.before)
    out.print(Text(f"audit trail of {account.id}, newest first (times in UTC)"))
    for record in records:  # one line each, so that the trail can be searched and piped
        event = record.event
        out.print(_plain("  ".join((
            str(record.seq), _when(record.at), event.kind.value, event.outcome.value,
            _actor(event.acted_by), event.ip or "-",
            json.dumps(event.details, ensure_ascii=False, sort_keys=True)))))
    if len(records) == args.limit:
        out.print(Text(f"older entries: --before {records[-1].seq}"))
    return 0


async def _verify_audit(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    with _progress("verifying the audit chain") as (set_total, advance):
        set_total(await admin.audit_length())
        report = await admin.verify_audit_chain(advance)
    if report.intact:
        out.print(Text(f"audit log intact: {report.checked} entries verified"))
        return 0
    where = f"at entry {report.broken_seq}" if report.broken_seq else "at its end"
    out.print(Text(f"audit log BROKEN {where}: {report.problem} ({report.checked} entries "
                   "before it verified)"))
    return 1


async def _reencrypt(admin: AdminService, args: argparse.Namespace, out: Console) -> int:
    operator = _operator(args)
    with _progress("re-encrypting secrets") as (set_total, advance):
        set_total(await admin.count_secrets())
        report = await admin.reencrypt_secrets(operator, advance)
    out.print(Text(f"{report.reencrypted} of {report.examined} secrets re-encrypted under the "
                   "first key; the others already were"))
    if report.undecryptable:
        out.print(Text(f"{len(report.undecryptable)} secret(s) decrypt under no configured key "
                       f"(factors {', '.join(report.undecryptable)}): put the key that "
                       "encrypted them back into KEEPGATE_ENCRYPTION_KEYS and run again"))
        return 1
    return 0


TASKS: dict[str, Task] = {"find": _find, "lift-ban": _lift_ban, "unlock": _unlock,
                          "end-sessions": _end_sessions, "audit": _audit,
                          "verify-audit": _verify_audit, "reencrypt-secrets": _reencrypt}


@contextmanager
def _progress(description: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A progress bar on standard error: yields (set the total, advance by so many)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True))
    task = bar.add_task(description, total=None)
    with bar:
        yield (lambda total: bar.update(task, total=total),
               lambda done: bar.advance(task, done))


def _summary(found: AccountSummary) -> Table:
    account = found.account
    factors = ", ".join(f"{kind} {count}" for kind, count in sorted(found.factors.items()))
    if found.pending_factors:
        factors += f" ({found.pending_factors} not confirmed)"
    ban = (f"banned until {_when(account.banned_until)}" if found.banned and account.banned_until
           else "not banned")
    lock = (f"locked since {_when(account.locked_at)} (\"this wasn't me\")" if account.locked_at
            else "not locked")
    grid = Table.grid(padding=(0, 2))
    for label, value in (
            ("account", account.id), ("email", account.email or "-"),
            ("phone", account.phone or "-"),
            ("status", f"{account.status.value}, KYC tier {account.kyc_tier}"),
            ("created", _when(account.created_at)), ("factors", factors or "none"),
            ("recovery codes left", str(found.recovery_codes_left)),
            ("sign-in", f"{ban}; {account.failed_logins} failure(s) counted"),
            ("lock", lock), ("active sessions", str(found.active_sessions))):
        grid.add_row(_plain(label), _plain(value))
    return grid


def _actor(actor: Actor) -> str:
    who = f"{actor.kind.value}:{actor.id}" if actor.id else actor.kind.value
    return f"{who} ({actor.reason})" if actor.reason else who


def _operator(args: argparse.Namespace) -> Operator:
    return Operator(args.operator or "", args.reason)


def _with_account(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("account", help="account id, email address or phone number (+44...)")
    return parser


def _with_reason(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--reason", required=True, help="why: recorded in the audit log")
    parser.add_argument("--operator", default=_login_name(),
                        help="who: recorded in the audit log (default: your login name)")
    return parser


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment: --operator is needed
        return None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _plain(value: str) -> Text:
    """Database text as plain text: no markup, no terminal control characters."""
    return Text("".join(ch if ch.isprintable() else "\ufffd" for ch in value))
