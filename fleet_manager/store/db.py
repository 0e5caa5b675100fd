"""The database handle: engine, sessions, SQLite WAL set-up, and Alembic migrations.

Migrations run once, by `finalmile db upgrade` (a compose init job in production), never in a service's
start-up: several replicas starting together would race on them. A service checks that the schema is at
this code's head (`require_current_schema`) and refuses to start otherwise.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from fleet_manager.errors import ConfigError, SchemaBehind

from .outbox import SEALER_KEY
from .sealing import Sealer
from .tracking import TRACKING_KEY, TrackingPolicy

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_WRITE_OPTION = "finalmile_write"
#: pg_advisory_xact_lock key serialising concurrent `finalmile db upgrade` runs on one PostgreSQL database.
_MIGRATION_LOCK_KEY = 0x46_4D_4D_49_47  # "FMMIG"
T = TypeVar("T")


def _sqlite_setup(engine: Engine) -> None:
    """WAL journal, foreign keys, and BEGIN IMMEDIATE for write transactions.

    Python's sqlite3 starts transactions lazily; a read transaction that later writes fails at once
    with SQLITE_BUSY when another writer got there first. Taking the write lock at BEGIN makes
    writers queue on the busy timeout instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class WriteFence(Protocol):
    """What a fenced handle checks first in every write transaction (a hub leader's lease token)."""

    def check(self, session: Session) -> None:
        """Raise (StaleLeader) when writes under this fence must not happen any more."""


class Database:
    """One database (SQLite file or PostgreSQL) and its sessions; create one per process."""

    _fence: WriteFence | None = None

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:
            # Never repeat the URL: it may hold a password.
            raise ConfigError(f"FINALMILE_DATABASE_URL is not a database URL ({type(exc).__name__})") from None
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30.0}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=30.0)
        try:
            self.engine = create_engine(parsed, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(
                f"FINALMILE_DATABASE_URL: no database driver for {parsed.drivername!r} ({type(exc).__name__})"
            ) from None
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self.sealer = Sealer.ephemeral()  # create_app seals with the server secret (`use_secret`)
        self.tracking = TrackingPolicy()  # create_app sets the public URL and link lifetime from the settings
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._write_sessions = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)

    def use_secret(self, server_secret: bytes) -> None:
        """Seal secrets at rest (the outbox's pickup codes) under this server secret from now on."""
        self.sealer = Sealer(server_secret)

    def fenced(self, fence: WriteFence) -> Database:
        """This database (same engine and pool) whose every write transaction first passes `fence.check`.

        A hub's leader hands this to everything that writes for the hub (dispatcher, missions, telemetry),
        so a deposed leader's late writes are refused by the store itself.
        """
        handle = copy.copy(self)
        handle._fence = fence
        return handle

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        with self._write_sessions() as session, session.begin():
            session.info[SEALER_KEY] = self.sealer
            session.info[TRACKING_KEY] = self.tracking
            if self._fence is not None:
                self._fence.check(session)
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        with self._read_sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    async def write_async(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in one write transaction in a worker thread.

        The event loop also talks to the vehicles, so a busy SQLite writer must never stall it.
        """

        def run() -> T:
            with self.transaction() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    async def read_async(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in a read session in a worker thread."""

        def run() -> T:
            with self.read() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent): `finalmile db upgrade`, tests, the sim.

        On PostgreSQL a transaction-scoped advisory lock makes two concurrent upgrades run one after the other.
        """
        config = alembic_config()
        with self.engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        logger.info("database %s at migration head", self.display_url)

    @property
    def display_url(self) -> str:
        """The URL without its password (for logs and errors)."""
        return self.url.render_as_string(hide_password=True)

    def schema_revisions(self) -> tuple[str | None, str]:
        """(the database's current Alembic revision or None when unmigrated, this code's head revision)."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if head is None:
            raise ConfigError("the package has no migrations (broken install)")
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current, head

    def require_current_schema(self) -> None:
        """Refuse (SchemaBehind) unless the schema is at this code's head; services call this at start-up."""
        current, head = self.schema_revisions()
        if current != head:
            raise SchemaBehind(self.display_url, current, head)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def upgrade(url: str) -> str:
    """`finalmile db upgrade` on `url` with a database handle of its own; returns the URL (for call chains)."""
    database = Database(url)
    try:
        database.migrate()
    finally:
        database.dispose()
    return url


def alembic_config() -> Config:
    """Alembic configuration pointing at the package's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config
