"""`todo-api` command line: serve, migrate, downgrade, check-config, openapi.

Configuration problems print one line naming the variable(s) and exit 2; no traceback, and
never a value (DATABASE_URL holds a password).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .core.config import ConfigError, DatabaseSettings, Settings, load

EXIT_CONFIG = 2
EXIT_DB = 3
log = logging.getLogger("todo_api.cli")


# Idle keep-alive connections from the Ingress controller: longer than its own idle timeout.
KEEP_ALIVE_SECONDS = 75


def _load_or_exit(cls: type[DatabaseSettings]) -> DatabaseSettings:
    try:
        return load(cls)
    except ConfigError as exc:
        print(f"todo-api: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load_or_exit(Settings)
    assistant = "enabled" if settings.assistant_enabled else "disabled (no OPENAI_API_KEY)"
    print(f"todo-api: configuration ok (environment={settings.environment}, assistant {assistant})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load_or_exit(Settings)
    from .core.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.secret_values())
    import uvicorn

    workers = args.workers or settings.web_concurrency
    log.info("serving", extra={"host": args.host, "port": args.port, "workers": workers})
    uvicorn.run(
        "todo_api.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # An idle connection from the Ingress controller stays open longer than the controller
        # keeps it (ingress-nginx: upstream-keepalive-timeout 60 s), so the controller closes it
        # first. With uvicorn's 5 s the two race: a request sent on a connection the server is
        # closing fails with a 502 (seen under load on Minikube).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # In-flight requests may finish: the longest is an assistant turn, bounded at twice
        # OPENAI_TIMEOUT_SECONDS (the chart's grace period allows for this plus its preStop).
        timeout_graceful_shutdown=int(2 * settings.openai_timeout_seconds) + 5,
    )
    return 0


def _migrate(args: argparse.Namespace, action: str) -> int:
    settings = _load_or_exit(DatabaseSettings)
    from .core.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.secret_values())
    from .migrate import MigrationError, run

    try:
        run(settings, action=action, revision=args.revision, wait_seconds=args.wait)
    except MigrationError as exc:
        print(f"todo-api: migration failed: {exc}", file=sys.stderr)
        return EXIT_DB
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    return _migrate(args, "upgrade")


def cmd_downgrade(args: argparse.Namespace) -> int:
    return _migrate(args, "downgrade")


def cmd_openapi(args: argparse.Namespace) -> int:
    import json

    from .main import openapi_document

    print(json.dumps(openapi_document(), indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="todo-api", description="The Todo application's API service."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    # All interfaces: in a container the Service/Ingress reaches the pod from outside.
    all_interfaces = "0.0.0.0"  # noqa: S104
    serve.add_argument("--host", default=all_interfaces, help="bind address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (default WEB_CONCURRENCY)"
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply Alembic migrations (default: to head)")
    migrate.add_argument("--revision", default="head")
    migrate.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="seconds to wait for the database to answer (default 60)",
    )
    migrate.set_defaults(func=cmd_migrate)

    downgrade = sub.add_parser(
        "downgrade", help="revert Alembic migrations to a revision (e.g. base)"
    )
    downgrade.add_argument("revision")
    downgrade.add_argument("--wait", type=float, default=10.0)
    downgrade.set_defaults(func=cmd_downgrade)

    check = sub.add_parser("check-config", help="validate the environment and exit")
    check.set_defaults(func=cmd_check_config)

    openapi = sub.add_parser("openapi", help="print the OpenAPI document (needs no configuration)")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
