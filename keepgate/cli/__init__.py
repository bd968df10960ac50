"""``keepgate serve | migrate`` — configuration comes from ``KEEPGATE_*`` variables."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keepgate.config import ConfigError, Settings
from keepgate.web.middleware import MAX_HEADER_BYTES

MIGRATIONS = Path(__file__).parent / "migrations"


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
    "filters": {"redact": {"()": "keepgate.cli.RedactTokens"}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact"]}},
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
    print(f"Keepgate on http://{settings.host}:{settings.port} "
          f"({settings.env}, database {settings.database_url.split('://')[0]})", flush=True)
    uvicorn.run("keepgate.web.app:app_from_env", factory=True, host=settings.host,
                port=settings.port, workers=workers or settings.workers, proxy_headers=False,
                server_header=False, log_level="info", log_config=LOG_CONFIG,
                http=HTTP_PARSER, h11_max_incomplete_event_size=MAX_HEADER_BYTES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keepgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    serve_cmd = sub.add_parser("serve", help="serve the web UI and API")
    serve_cmd.add_argument("--workers", type=int, help="worker processes (KEEPGATE_WORKERS)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"keepgate: configuration refused: {error}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        migrate(settings)
    else:
        serve(settings, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
