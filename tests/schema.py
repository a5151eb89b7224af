"""Test helpers that change the database schema: missing tables, migrations run back and forth.

MySQL and MariaDB commit the open transaction on every schema change (DDL), so a test that uses
these must be transactional (``@pytest.mark.django_db(transaction=True)``): otherwise what it
wrote before the change would be committed and leak into the tests after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@contextmanager
def table_missing(model: Any) -> Iterator[None]:
    """Rename ``model``'s table away for the block, as if ``migrate`` had not been run."""
    table = connection.ops.quote_name(model._meta.db_table)
    away = connection.ops.quote_name(model._meta.db_table + "_away")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {away}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")


def migrate(app: str, target: str | None) -> Any:
    """Migrate ``app`` to migration ``target`` (None: its latest); return the project state's apps there."""
    executor = MigrationExecutor(connection)
    node = (app, target) if target is not None else executor.loader.graph.leaf_nodes(app)[0]
    executor.migrate([node])
    # A fresh executor: the first one's loader still describes the state before migrating.
    return MigrationExecutor(connection).loader.project_state([node]).apps
