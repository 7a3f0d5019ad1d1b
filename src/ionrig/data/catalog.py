"""Where runs are stored: an embedded Tiled catalog (SQLite + files) under one data directory.

Layout of the data directory (``$IONRIG_DATA``, else the user's data directory)::

    catalog/catalog.db       Tiled's metadata database (SQLite)
    catalog/storage.duckdb   event tables written by TiledWriter
    catalog/data/            arrays written by Tiled
    raw/                     HDF5 files written by detectors (Tiled's readable storage)
    journal/<uid>.jsonl      every document of every run, flushed as emitted
    catalog/serve.json       present while ``ionrig catalog serve`` owns the catalog

One process owns the SQLite file. While ``ionrig catalog serve`` runs, :func:`open_catalog` in
any other process connects to it over HTTP on loopback instead of opening the file.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["Catalog", "DataLocation", "data_directory", "open_catalog", "running_server"]


def data_directory() -> Path:
    """The data directory: ``$IONRIG_DATA`` if set, else the user's data directory."""
    env = os.environ.get("IONRIG_DATA")
    return Path(env).expanduser().resolve() if env else Path(platformdirs.user_data_dir("ionrig"))


@dataclass(frozen=True)
class DataLocation:
    """The paths of one data directory."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike | None = None) -> DataLocation:
        location = cls(Path(path).expanduser().resolve() if path else data_directory())
        for directory in (location.catalog_dir / "data", location.raw_dir, location.journal_dir):
            directory.mkdir(parents=True, exist_ok=True)
        return location

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def journal_dir(self) -> Path:
        return self.root / "journal"

    @property
    def serve_file(self) -> Path:
        return self.catalog_dir / "serve.json"


def build_tiled_catalog(location: DataLocation):
    """The server-side Tiled catalog adapter over ``location`` (the one owner of the SQLite)."""
    from tiled.catalog import from_uri as catalog_from_uri

    database = location.catalog_dir / "catalog.db"
    uri = f"sqlite+aiosqlite:///{database}"
    if not (database.exists() and database.stat().st_size > 0):
        _initialise_database(uri)
    return catalog_from_uri(
        uri,
        writable_storage=[
            str(location.catalog_dir / "data"),
            f"duckdb:///{location.catalog_dir / 'storage.duckdb'}",
        ],
        readable_storage=[str(location.raw_dir)],
    )


def _initialise_database(uri: str) -> None:
    """Create Tiled's tables in a new database and stamp its schema revision: what ``tiled
    catalog init`` does. Tiled's ``init_if_not_exists`` runs that command in a subprocess (a
    new interpreter, ~3 s); here it runs in-process, in a worker thread with its own event loop
    (Tiled's async engine and alembic's stamp both start one)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.ext.asyncio import create_async_engine
    from tiled.alembic_utils import stamp_head
    from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.catalog.core import initialize_database

    async def create_tables() -> None:
        engine = create_async_engine(uri)
        try:
            await initialize_database(engine)
        finally:
            await engine.dispose()

    def initialise() -> None:
        asyncio.run(create_tables())
        with warnings.catch_warnings():
            # Tiled's alembic.ini template predates alembic's path_separator option
            warnings.filterwarnings(
                "ignore", message="No path_separator found", category=DeprecationWarning
            )
            stamp_head(ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, uri)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ionrig-catalog-init") as pool:
        pool.submit(initialise).result()


def running_server(location: DataLocation) -> dict[str, Any] | None:
    """The ``serve.json`` record of a live ``ionrig catalog serve``, or ``None``."""
    try:
        record = json.loads(location.serve_file.read_text())
        os.kill(int(record["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    return record


class Catalog:
    """A Tiled client over the runs of one data directory, indexable by uid or by position.

    ``catalog[-1]`` is the newest run, ``catalog["<uid>"]`` a run by its start uid; each run is
    a bluesky-tiled-plugins ``BlueskyRun`` (``run.metadata["start"]``, ``run["primary"]``).
    """

    def __init__(self, client, location: DataLocation, *, remote: bool, context=None) -> None:
        self.client = client
        self.location = location
        self.remote = remote
        self._context = context

    def uids(self) -> list[str]:
        """Start uids of all runs, oldest first (by the start document's time)."""
        runs = [(v.metadata.get("start", {}).get("time", 0.0), k) for k, v in self.client.items()]
        return [uid for _, uid in sorted(runs)]

    def __len__(self) -> int:
        return len(self.client)

    def __iter__(self) -> Iterator[str]:
        return iter(self.uids())

    def __contains__(self, uid: str) -> bool:
        return uid in self.client

    def __getitem__(self, key: str | int):
        if isinstance(key, int):
            uids = self.uids()
            if not uids:
                raise IndexError("the catalog holds no runs yet")
            return self.client[uids[key]]
        return self.client[key]

    def delete(self, uid: str) -> None:
        """Remove one run and its internal data (files written by detectors stay on disk)."""
        self.client.delete_contents(uid, recursive=True, external_only=False)

    def close(self) -> None:
        """Release the catalog: the in-process app, or the HTTP connection to the server."""
        context = self._context or getattr(self.client, "context", None)
        if context is not None:
            context.close()
        self._context = None

    def __repr__(self) -> str:
        where = "server" if self.remote else "embedded"
        return f"<ionrig Catalog ({where}) at {self.location.root} with {len(self)} runs>"


def open_catalog(path: str | os.PathLike | None = None) -> Catalog:
    """Open the catalog of the data directory ``path`` (default :func:`data_directory`).

    Connects over HTTP when ``ionrig catalog serve`` is running for that directory; otherwise
    opens the embedded catalog in this process (creating it on first use).
    """
    from tiled.client import Context, from_context, from_uri

    location = DataLocation.at(path)
    server = running_server(location)
    if server is not None:
        client = from_uri(server["uri"], api_key=server.get("api_key"))
        return Catalog(client, location, remote=True)
    from tiled.server.app import build_app

    # The in-process app is reached through starlette's TestClient, which warns that it wants
    # httpx2; and tiled's app logs its version at INFO on stdout. Neither concerns a user.
    logging.getLogger("tiled.server.app").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        context = Context.from_app(build_app(build_tiled_catalog(location)))
    return Catalog(from_context(context), location, remote=False, context=context)


def serve_catalog(
    path: str | os.PathLike | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
) -> None:
    """Serve the catalog over HTTP until interrupted (blocking); the one owner of its SQLite.

    Listens on loopback unless ``host`` is given together with an ``api_key``.
    """
    import uvicorn
    from tiled.config import Authentication
    from tiled.server.app import build_app

    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        raise ValueError(
            f"host={host!r} exposes the catalog beyond this machine: give an api_key too"
        )
    if api_key is not None and not (api_key.isascii() and api_key.isalnum()):
        raise ValueError(
            "api_key must be letters and digits only (Tiled's rule), e.g. "
            '`python -c "import secrets; print(secrets.token_hex(32))"`'
        )
    location = DataLocation.at(path)
    if running_server(location) is not None:
        raise RuntimeError(f"a catalog server already owns {location.root}")
    key = api_key or secrets.token_hex(16)
    app = build_app(
        build_tiled_catalog(location), authentication=Authentication(single_user_api_key=key)
    )
    uri = f"http://{'127.0.0.1' if host in ('localhost', '0.0.0.0') else host}:{port}/api/v1"
    location.serve_file.write_text(json.dumps({"uri": uri, "api_key": key, "pid": os.getpid()}))
    location.serve_file.chmod(0o600)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        location.serve_file.unlink(missing_ok=True)
