"""Set-based reads and writes by primary key for the batch stages: no ORM objects, few statements.

On PostgreSQL, id lists travel as one array parameter (`= ANY(...)`: a 5,000-placeholder IN costs psycopg more
to parse than the server to run) and large updates go through COPY into a temporary table and one
UPDATE ... FROM (3-4x faster than an executemany of single-row UPDATEs).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, Row, Table, any_, bindparam, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

# Bound IN (...) lists: SQLite allows 32,766 parameters per statement.
IN_CHUNK = 5000
ARRAY_CHUNK = 100_000
# Below this many rows an executemany is as quick as creating and filling a temporary table.
COPY_MIN = 500


def chunks(values: Iterable[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    """Lists of at most `size` values, in order: keeps each IN (...) under the bound-parameter limit."""
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def is_postgres(session: Session) -> bool:
    """True when the session is bound to PostgreSQL (its faster bulk paths apply)."""
    return session.get_bind().dialect.name == "postgresql"


def in_conditions(session: Session, column: Any, values: Iterable[Any]) -> Iterator[ColumnElement[bool]]:
    """`column IN values` as WHERE conditions, one statement each (sorted: the same statements every run)."""
    values = sorted(set(values))
    if is_postgres(session):
        for chunk in chunks(values, ARRAY_CHUNK):
            yield column == any_(literal(chunk, ARRAY(column.type)))
    else:
        for chunk in chunks(values):
            yield column.in_(chunk)


def rows_by_id(session: Session, columns: Sequence[Any], ids: Iterable[int]) -> list[Row[Any]]:
    """The given columns of the rows with these ids (columns[0] must be the primary key), in id order."""
    key = columns[0]
    out: list[Row[Any]] = []
    for condition in in_conditions(session, key, ids):
        out += session.execute(select(*columns).where(condition).order_by(key)).all()
    return out


def copy_stage(session: Session, table: Table, columns: Sequence[tuple[str, str]],
               rows: Iterable[Sequence[Any]]) -> str:
    """A temporary table (dropped at commit) with `columns` as (stage name, column of table), filled with rows
    (values in that order) by COPY; its name. JSON values are encoded here: COPY bypasses SQLAlchemy's types."""
    json_at = [isinstance(table.c[col].type, JSON) for _, col in columns]
    stage = f"_stage_{uuid.uuid4().hex[:12]}"
    conn = session.connection()
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "
                         f"SELECT {', '.join(f'{col} AS {name}' for name, col in columns)} FROM {table.name} "
                         "WITH NO DATA")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    names = ", ".join(name for name, _ in columns)
    with cursor, cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(v, ensure_ascii=False) if j else v  # None: JSON null, as SQLAlchemy
                            for v, j in zip(row, json_at, strict=True)])
    return stage


def copy_rows_stage(session: Session, table: Table, rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """copy_stage of whole rows for an INSERT ... SELECT into table: the stage's name and its columns. COPY
    bypasses SQLAlchemy, so the Python-side column defaults the rows leave out (needs_review=False, ...) are
    filled in here, as the ORM would."""
    defaults = {c.name: c.default.arg if c.default.is_scalar else c.default.arg(None)  # type: ignore[union-attr]
                for c in table.columns if c.default is not None and c.name not in rows[0] and not c.primary_key}
    cols = [*rows[0], *defaults]
    return copy_stage(session, table, [(c, c) for c in cols], ([(r | defaults)[c] for c in cols] for r in rows)), cols


def copy_insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]],
                       returning: Sequence[str] = ()) -> list[Row[Any]]:
    """PostgreSQL: INSERT ... ON CONFLICT DO NOTHING of many rows through COPY and one INSERT ... SELECT (an
    executemany with RETURNING spends its time in psycopg splitting multi-thousand-parameter statements).
    Returns the inserted rows' `returning` columns."""
    stage, cols = copy_rows_stage(session, table, rows)
    col_list = ", ".join(cols)
    sql = f"INSERT INTO {table.name} ({col_list}) SELECT {col_list} FROM {stage} ON CONFLICT DO NOTHING"
    if not returning:
        session.connection().exec_driver_sql(sql)
        return []
    return list(session.connection().exec_driver_sql(f"{sql} RETURNING {', '.join(returning)}").all())


def update_by_id(session: Session, table: Table, rows: list[dict[str, Any]], key: str = "id") -> None:
    """UPDATE ... WHERE <key> = row["_id"] for each row; every row gives the same columns plus `_id`."""
    if not rows:
        return
    if not is_postgres(session) or len(rows) < COPY_MIN:
        session.execute(update(table).where(table.c[key] == bindparam("_id")), rows)
        return
    cols = [c for c in rows[0] if c != "_id"]
    stage = copy_stage(session, table, [("_id", key), *((c, c) for c in cols)],
                       ([row["_id"], *(row[c] for c in cols)] for row in rows))
    session.connection().exec_driver_sql(
        f"UPDATE {table.name} AS t SET {', '.join(f'{c} = s.{c}' for c in cols)} "
        f"FROM {stage} AS s WHERE t.{key} = s._id")


def expire_loaded(session: Session, entity: type) -> None:
    """Objects of this class already in the session reload on next access, so they show set-based writes."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, entity):
            session.expire(obj)
