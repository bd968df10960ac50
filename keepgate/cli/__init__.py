"""``keepgate serve | migrate | admin | service-client``.

Configuration comes from ``KEEPGATE_*`` variables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keepgate.cli.admin import add_admin_commands, run_admin
from keepgate.cli.service_clients import add_service_client_commands, run_service_clients
from keepgate.config import ANNOUNCED, ConfigError, Settings
from keepgate.services.clock import Clock
from keepgate.web.middleware import MAX_HEADER_BYTES

MIGRATIONS = Path(__file__).parent.parent / "migrations"
# prometheus_client's own variable, read when it is first imported (keepgate.adapters.metrics)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def migrate(settings: Settings) -> None:
    """Apply migrations up to head. Safe to call from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade(settings)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:  # alembic's env runs its own loop
        pool.submit(_upgrade, settings).result()


def _upgrade(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = settings.database_url
    command.upgrade(config, "head")


class RedactTokens(logging.Filter):
    """Signed links ("this wasn't me", undo a contact change) must not sit in access logs."""

    PATTERN = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1[redacted]", a) if isinstance(a, str)
                                else a for a in record.args)
        return True


LOG_CONFIG: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "keepgate.cli.RedactTokens"},
                "request_id": {"()": "keepgate.services.request_ids.RequestIdFilter"}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s [%(request_id)s]: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact", "request_id"]}},
    "loggers": {"uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
                "uvicorn.access": {"handlers": ["console"], "level": "INFO",
                                   "propagate": False},
                "keepgate": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}


# Request heads are capped as a proxy would (nginx: four 8 KiB header buffers): uvicorn's
# httptools parser buffers a head of any size, h11 stops at this many bytes while the head is
# still incomplete (400 and the connection closed); keepgate.web.middleware.HeaderLimit answers
# 431 to a head that arrived whole but is over 8 KiB a line or 32 KiB in all.
HTTP_PARSER = "h11"


def serve(settings: Settings, workers: int | None) -> None:
    import uvicorn

    if workers:  # the worker processes read their settings from the environment
        os.environ["KEEPGATE_WORKERS"] = str(workers)
    os.environ[ANNOUNCED] = "1"  # main() has announced the settings' warnings: once is enough
    print(f"Keepgate on {settings.public_url} (listening on {settings.host}:{settings.port}, "
          f"{settings.env}, database {settings.database_url.split('://')[0]})", flush=True)
    with metrics_directory():
        uvicorn.run("keepgate.web.app:app_from_env", factory=True, host=settings.host,
                    port=settings.port, workers=workers or settings.workers,
                    proxy_headers=False, server_header=False, log_level="info",
                    log_config=LOG_CONFIG, http=HTTP_PARSER,
                    h11_max_incomplete_event_size=MAX_HEADER_BYTES)


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """Where every worker process keeps its Prometheus values, so a scrape adds them all up.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used (emptied first: values from an earlier
    run would be counted again); otherwise a fresh private directory is made and removed on
    exit. Either way it is set before any worker imports ``prometheus_client``.
    """
    given = os.environ.get(MULTIPROCESS_DIR)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="keepgate-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    _empty(directory)
    os.environ[MULTIPROCESS_DIR] = str(directory)
    try:
        yield directory
    finally:
        if given:
            _empty(directory)
        else:
            shutil.rmtree(directory, ignore_errors=True)
            del os.environ[MULTIPROCESS_DIR]


def _empty(directory: Path) -> None:
    for stale in directory.glob("*.db"):
        stale.unlink()


def main(argv: list[str] | None = None, *, clock: Clock | None = None) -> int:
    """``clock`` stands in for the system clock (tests)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env(os.environ, announce=args.command == "serve")
    except ConfigError as error:
        print(f"keepgate: configuration refused: {error}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "serve":
        serve(settings, args.workers)
    elif args.command == "service-client":
        return run_service_clients(args, settings, clock)
    else:
        return run_admin(args, settings, clock)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keepgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    serve_cmd = sub.add_parser("serve", help="serve the web UI and API")
    serve_cmd.add_argument("--workers", type=int, help="worker processes (KEEPGATE_WORKERS)")
    add_admin_commands(sub)
    add_service_client_commands(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
