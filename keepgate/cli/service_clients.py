"""``keepgate service-client``: the exchange's other services that may call the decision API.

    keepgate service-client create NAME --scopes introspect,decide,limits --reason "..."
    keepgate service-client rotate NAME --reason "..."
    keepgate service-client revoke NAME --reason "..."
    keepgate service-client list

A new secret (``create``, ``rotate``) is printed once, on its own line, and never again: only
its keyed hash is stored. ``rotate`` replaces the secret at once (the old one stops working);
to change secrets without a gap, create a second client, move the service over, then revoke
the first. A revoked client's name is never given again. Every change needs ``--reason`` and
is recorded in the audit log with the operator's name (``--operator``, by default the login
name). Exit status: 0 done, 1 refused, 2 bad usage or configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from keepgate.cli.admin import INTERRUPTED, _operator, _plain, _when, _with_reason
from keepgate.config import Settings
from keepgate.domain.service_clients import Scope, ServiceClientRecord
from keepgate.services.admin import AdminError
from keepgate.services.clock import Clock
from keepgate.services.service_clients import IssuedSecret, ServiceClients

Task = Callable[[ServiceClients, argparse.Namespace, Console], Awaitable[int]]


def add_service_client_commands(commands: Any) -> None:
    """Add ``service-client`` and its tasks to the top-level ``commands``."""
    group = commands.add_parser("service-client", help="the exchange's services that may "
                                "call the decision API: create, rotate, revoke, list")
    tasks = group.add_subparsers(dest="task", required=True)
    create = _with_reason(_with_name(tasks.add_parser(
        "create", help="a new client; its secret is shown once")))
    create.add_argument("--scopes", required=True, type=_scopes,
                        help=f"comma-separated: {','.join(s.value for s in Scope)}")
    _with_reason(_with_name(tasks.add_parser(
        "rotate", help="a new secret; the old one stops working at once")))
    _with_reason(_with_name(tasks.add_parser("revoke", help="the client's calls are refused "
                                             "from now on; its name is never reused")))
    tasks.add_parser("list", help="every client, revoked ones included (never a secret)")


def run_service_clients(args: argparse.Namespace, settings: Settings,
                        clock: Clock | None) -> int:
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return asyncio.run(_run(TASKS[args.task], args, settings, clock, out))
    except AdminError as error:
        err.print(Text(f"keepgate service-client: {error}"))
        return 1
    except KeyboardInterrupt:
        err.print("keepgate service-client: interrupted; nothing was changed half-way")
        return INTERRUPTED


async def _run(task: Task, args: argparse.Namespace, settings: Settings, clock: Clock | None,
               out: Console) -> int:
    from keepgate.wiring import build

    kg = build(settings, clock=clock)
    try:
        return await task(kg.service_clients, args, out)
    finally:
        await kg.close()


def _show_secret(issued: IssuedSecret, out: Console) -> None:
    out.print(Text("its secret follows, shown this once: store it where the service reads "
                   "its secrets (it authenticates with HTTP Basic as NAME:SECRET, or with "
                   "Authorization: Bearer SECRET)"))
    out.print(Text(issued.secret))


async def _create(clients: ServiceClients, args: argparse.Namespace, out: Console) -> int:
    issued = await clients.create(args.name, args.scopes, _operator(args))
    scopes = ", ".join(sorted(s.value for s in issued.client.scopes))
    out.print(_plain(f"service client {issued.client.name} created with scopes {scopes}; "
                     "the event is in the audit log"))
    _show_secret(issued, out)
    return 0


async def _rotate(clients: ServiceClients, args: argparse.Namespace, out: Console) -> int:
    issued = await clients.rotate(args.name, _operator(args))
    out.print(_plain(f"service client {issued.client.name} has a new secret; the old one no "
                     "longer works; the event is in the audit log"))
    _show_secret(issued, out)
    return 0


async def _revoke(clients: ServiceClients, args: argparse.Namespace, out: Console) -> int:
    record = await clients.revoke(args.name, _operator(args))
    out.print(_plain(f"service client {record.name} revoked: its calls are refused from now "
                     "on; the event is in the audit log"))
    return 0


async def _list(clients: ServiceClients, args: argparse.Namespace, out: Console) -> int:
    records = await clients.list()
    if not records:
        out.print(Text("no service clients"))
    for record in records:  # one line each, so that the list can be searched and piped
        out.print(_plain("  ".join((record.name, _status(record),
                                    ",".join(sorted(s.value for s in record.scopes)),
                                    f"created {_when(record.created_at)} by {record.created_by}",
                                    f"secret issued {_when(record.rotated_at or record.created_at)}"
                                    ))))
    return 0


def _status(record: ServiceClientRecord) -> str:
    return "active" if record.active else f"revoked {_when(record.revoked_at)}"


TASKS: dict[str, Task] = {"create": _create, "rotate": _rotate, "revoke": _revoke,
                          "list": _list}


def _with_name(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("name", help="the client's name, also its id (trading-engine)")
    return parser


def _scopes(text: str) -> list[str]:
    return text.split(",")
