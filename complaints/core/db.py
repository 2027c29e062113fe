"""Engine and session set-up, plus Alembic migrations applied on start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from complaints.core.bulk import COPY_MIN, copy_insert_ignore
from complaints.core.config import ConfigError
from complaints.core.settings import PROJECT_ROOT


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the reporting/notify flows read while ingest writes; busy_timeout absorbs overlapping runs.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


class DatabaseUrlError(ConfigError):
    """A database URL that cannot work as written: not a URL, an unknown driver, a SQLite folder that is missing."""


def _sqlite_folder(path: Path) -> None:
    """The SQLite file's folder must exist; only the app's own var folder (the default location) is created. A typo
    in a URL would otherwise create folders and an empty database, and the run would report nothing to do."""
    if path.parent.is_dir():
        return
    from complaints.core.settings import get_settings

    if path.parent.resolve() == get_settings().var_dir.resolve():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    raise DatabaseUrlError(f"database folder {path.parent} does not exist (create it or correct the database URL)")


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets a busy timeout and its pragmas (DatabaseUrlError for a bad URL)."""
    try:
        url = normalise_url(url)
        u = make_url(url)
        if u.get_backend_name() == "sqlite":
            if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
                _sqlite_folder(Path(u.database))
            engine = create_engine(url, connect_args={"timeout": 30})
        else:
            return create_engine(url, pool_pre_ping=True)
    except (sa_exc.ArgumentError, ImportError) as exc:  # not a URL; a dialect or driver that is not installed
        raise DatabaseUrlError(f"database URL {_shown(url)!r} is not usable: {exc}") from exc
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url.split("@")[-1]


@lru_cache(maxsize=8)
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = _sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    """Alembic configuration of the project's migrations, pointed at the URL."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["url"] = normalise_url(url)
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema up to a migration, by default the newest (idempotent, safe to call on every start: at that
    migration already, it only reads the version, and waits for no other writer)."""
    if revision == "head" and _at_head(url):
        return
    _alembic(url, command.upgrade, revision)


def _at_head(url: str) -> bool:
    engine = get_engine(url)  # first: a URL that cannot work is a DatabaseUrlError, one line for the user
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads


def downgrade(url: str, revision: str) -> None:
    """Take the schema back down to a migration (to check a migration against data of the version before)."""
    _alembic(url, command.downgrade, revision)


# Alembic binds its `context` and `op` proxies as module globals for the length of a step: two migrations at once
# in one process (two flow runs in threads, each migrating on first use) tear down each other's (KeyError 'script').
_ALEMBIC_LOCK = threading.Lock()
MIGRATION_LOCK_KEY = 0x636F6D70  # PostgreSQL advisory lock key ("comp") held while migrating


def _alembic(url: str, step: Any, revision: str) -> None:
    with _ALEMBIC_LOCK:
        _alembic_step(url, step, revision)


def _alembic_step(url: str, step: Any, revision: str) -> None:
    engine = get_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # A batch migration rebuilds a table (copy, drop, rename); with foreign keys on, the drop would delete
            # the rows that reference it (ON DELETE CASCADE) or fail. Off around the migration (a no-op inside a
            # transaction, so before it), checked before it commits, on again for the pooled connection.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                # Another process migrating this database waits here, then finds it at head (pysqlite would begin
                # the transaction only at the first write, after the version was read).
                conn.exec_driver_sql("BEGIN IMMEDIATE" if sqlite
                                     else f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                step(cfg, revision)
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").first()):
                    raise RuntimeError(f"migration to {revision} left a broken foreign key: {tuple(broken)}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


# The tables batch stages write by the hundred thousand and then query by index.
BULK_TABLES = ("complaints", "complaint_events", "duplicate_links", "plans", "plan_steps", "plan_events",
               "escalations", "notifications")


def refresh_statistics(url: str, tables: tuple[str, ...] = BULK_TABLES, share: float = 0.1) -> list[str]:
    """PostgreSQL: ANALYZE each table whose rows changed by more than `share` (and 1,000) since its statistics were
    last taken; the ones analysed. Autovacuum does this when it is on and keeping up; where it is off (as on this
    machine) or behind a bulk load, the planner works from no statistics and can pick a plan that reads a whole
    index (the dedupe candidate query on a million complaints: 3 minutes instead of under a second). SQLite: none."""
    if make_url(normalise_url(url)).get_backend_name() != "postgresql":
        return []
    with get_engine(url).connect() as conn:
        rows = conn.execute(text("SELECT relname, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables "
                                 "WHERE schemaname = current_schema() AND relname = ANY(:tables)"),
                            {"tables": list(tables)}).all()
        stale = sorted(r.relname for r in rows if r.n_mod_since_analyze > share * r.n_live_tup + 1000)
        for name in stale:
            conn.exec_driver_sql(f"ANALYZE {name}")
        conn.commit()
    return stale


def insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]], *, returning: Any = None) -> Any:
    """Bulk INSERT that skips rows hitting a unique constraint (ON CONFLICT DO NOTHING).

    Database constraints carry idempotency: two overlapping runs inserting the same keys
    both succeed, and each row exists once. With `returning`, yields the inserted rows only.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        if len(rows) >= COPY_MIN:
            session.flush()  # the statement goes round the ORM
            return copy_insert_ignore(session, getattr(table, "__table__", table), rows,
                                      [c.key for c in returning or ()])
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).on_conflict_do_nothing()
    if returning is not None:
        # SQLAlchemy 2 batches executemany with RETURNING; skipped rows return nothing.
        return session.execute(stmt.returning(*returning), rows).all()
    session.execute(stmt, rows)
    return []


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for a test or a benchmark, dropped afterwards whatever happens.
    `admin_url` is any database on the server (e.g. .../test); it is only used to create and drop."""
    import uuid

    from sqlalchemy import text

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalise_url(admin_url).rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        get_engine(url).dispose()
        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
