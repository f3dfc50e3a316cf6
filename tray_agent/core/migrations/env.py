"""Alembic environment: runs on the connection the store hands it (see core/db.py)."""

from __future__ import annotations

from typing import Literal

from alembic import context
from sqlmodel import SQLModel

import tray_agent.core.models  # noqa: F401  (registers the tables on the metadata)

config = context.config
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | Literal[False]:
    # Keep migrations free of the models' Python-side types: a migration must keep
    # working after the models change.
    if type_ == "type":
        name = type(obj).__name__
        if name == "UTCDateTime":
            return "sa.DateTime()"
        if name == "AutoString":
            return "sa.String()"
    return False


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # The store's own engine: on SQLite it registers tray_index_text, which the search
        # index's triggers call (migration 0003).
        from tray_agent.core.db import Database

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("alembic run without a connection needs sqlalchemy.url (alembic -x or alembic.ini)")
        connection = Database(url).engine.connect()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
