"""Numbered SQL migrations (`sql/NNNN_name.sql`), applied in order and recorded.

Each file runs in its own transaction together with its row in `public.schema_migrations`, so a
file is either wholly applied and recorded or not at all. A session advisory lock serialises
concurrent callers (several services starting at once): the second waits, then finds nothing to do.
An applied file whose text changed is refused rather than silently skipped, because the database
would no longer match what the repository says it is.

Because each file runs inside a transaction, a migration must not contain BEGIN/COMMIT or
statements that refuse to run in one (CREATE INDEX CONCURRENTLY, ALTER TYPE ... ADD VALUE before
PostgreSQL 12).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import logging
import os
import pathlib
import re
import sys

import asyncpg

logger = logging.getLogger(__name__)

DEFAULT_SQL_DIR = pathlib.Path(__file__).resolve().parent.parent / "sql"

# An arbitrary constant shared by every caller; pg_advisory_lock takes a bigint.
_ADVISORY_LOCK_KEY = 0x0A3A_11CE_5C7E_0001

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migration files or the database's migration ledger are inconsistent."""


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: pathlib.Path
    sql: str
    checksum: str

    @property
    def file_name(self) -> str:
        return self.path.name


def read_migrations(sql_dir: pathlib.Path) -> list[Migration]:
    """The migration files of `sql_dir` in version order. Every `.sql` file must be named
    `NNNN_lower_snake.sql`, and no two may share a version."""
    if not sql_dir.is_dir():
        raise MigrationError(f"migration folder {sql_dir} does not exist")
    migrations: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake_case.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(
                f"{path}: version {version} is also used by {migrations[version].file_name}"
            )
        # Line endings are normalised so a checkout with CRLF conversion keeps the same checksum.
        sql = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        migrations[version] = Migration(version, match["name"], path, sql, checksum)
    return [migrations[version] for version in sorted(migrations)]


async def apply_migrations(dsn: str, sql_dir: pathlib.Path | None = None) -> list[str]:
    """Applies the pending migrations of `sql_dir` (default: the repository's `sql/`) to the
    database at `dsn`; returns the file names applied, in order (empty when up to date)."""
    migrations = read_migrations(sql_dir or DEFAULT_SQL_DIR)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
        try:
            return await _apply_pending(connection, migrations)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
    finally:
        await connection.close()


async def _apply_pending(
    connection: asyncpg.Connection, migrations: list[Migration]
) -> list[str]:
    await connection.execute(_CREATE_LEDGER)
    rows = await connection.fetch("SELECT version, name, checksum FROM public.schema_migrations")
    applied = {int(row["version"]): (str(row["name"]), str(row["checksum"])) for row in rows}
    by_version = {migration.version: migration for migration in migrations}

    for version, (name, checksum) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name} applied, which is not among the "
                "migration files: this code is older than the database"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"{migration.file_name} was changed after it was applied (checksum "
                f"{checksum[:12]} in the database, {migration.checksum[:12]} on disk); "
                "add a new migration instead of editing an applied one"
            )

    done: list[str] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        logger.info("applying migration %s", migration.file_name)
        try:
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO public.schema_migrations (version, name, checksum) "
                    "VALUES ($1, $2, $3)",
                    migration.version, migration.name, migration.checksum,
                )
        except asyncpg.PostgresError as error:
            raise MigrationError(f"{migration.file_name} failed: {error}") from error
        done.append(migration.file_name)
    return done


def main(argv: list[str] | None = None) -> int:
    """`python -m analytics_engine.migrations [--dsn DSN] [--sql-dir DIR]`; the DSN defaults to
    DATABASE_URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--sql-dir", type=pathlib.Path, default=None)
    arguments = parser.parse_args(argv)
    if not arguments.dsn:
        parser.error("no database: pass --dsn or set DATABASE_URL")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        applied = asyncio.run(apply_migrations(arguments.dsn, arguments.sql_dir))
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
