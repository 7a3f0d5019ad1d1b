"""Fixtures shared by the whole suite."""

from __future__ import annotations

import shutil
from pathlib import Path

import event_model
import pytest
from bluesky import RunEngine

REPO_ROOT = Path(__file__).resolve().parents[1]

SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def _initialised_catalog_db(tmp_path_factory) -> Path:
    """One freshly initialised, empty catalog database for the whole test session (Tiled
    initialises a database in a subprocess, seconds each; an empty one is the same anywhere)."""
    from ionrig.data.catalog import open_catalog

    root = tmp_path_factory.mktemp("catalog-template")
    open_catalog(root).close()
    return root / "catalog" / "catalog.db"


@pytest.fixture
def data_dir(tmp_path, monkeypatch, _initialised_catalog_db) -> Path:
    """An empty ionrig data directory (its empty catalog already initialised), also set as
    ``$IONRIG_DATA``."""
    path = tmp_path / "ionrig-data"
    (path / "catalog").mkdir(parents=True)
    shutil.copyfile(_initialised_catalog_db, path / "catalog" / "catalog.db")
    monkeypatch.setenv("IONRIG_DATA", str(path))
    return path


@pytest.fixture
def catalog(data_dir):
    from ionrig.data.catalog import open_catalog

    catalog = open_catalog(data_dir)
    yield catalog
    catalog.close()


@pytest.fixture
def session(catalog):
    """A session on the simulated rig at time_scale 100, storing into a fresh catalog."""
    from ionrig.session import start

    session = start("sim", catalog=catalog, time_scale=100)
    yield session
    if session.RE.state not in ("idle", "panicked"):
        session.RE.halt()


@pytest.fixture(scope="module")
def shared_session(tmp_path_factory):
    """One simulated session for a whole test module, for tests that only check refusals
    (nothing runs, so nothing carries over between tests)."""
    from ionrig.data.catalog import open_catalog
    from ionrig.session import start

    catalog = open_catalog(tmp_path_factory.mktemp("shared-ionrig-data"))
    session = start("sim", catalog=catalog, time_scale=100)
    yield session
    catalog.close()


@pytest.fixture
def RE():
    """A bare RunEngine that validates every document."""
    RE = RunEngine(call_returns_result=True)

    def validate(name, doc):
        event_model.schema_validators[event_model.DocumentNames(name)].validate(doc)

    RE.subscribe(validate)
    yield RE
    if RE.state not in ("idle", "panicked"):
        RE.halt()


class DocumentCollector:
    """Collects (name, doc) pairs from a RunEngine subscription."""

    def __init__(self) -> None:
        self.documents: list[tuple[str, dict]] = []

    def __call__(self, name: str, doc: dict) -> None:
        self.documents.append((name, doc))

    def of(self, name: str) -> list[dict]:
        return [doc for n, doc in self.documents if n == name]


@pytest.fixture
def docs() -> DocumentCollector:
    return DocumentCollector()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (reference data) is not beside this checkout")
    return SHARED
