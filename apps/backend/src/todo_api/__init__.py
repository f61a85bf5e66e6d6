"""todo-api: the Todo application's HTTP API (FastAPI, SQLAlchemy 2, PostgreSQL)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("todo-api")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
