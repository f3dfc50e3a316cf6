"""The cache's bulk message write keeps times exactly as the ORM stores them (the inbox sorts
and compares them as text), whatever spelling of UTC or offset the server sent."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import TypeAdapter
from sqlalchemy.dialects import sqlite

from tray_agent.core.columns import UTCDateTime
from tray_agent.core.mirror_bulk import stored_time


@pytest.mark.parametrize("wire", ["2026-03-10T09:00:00Z", "2026-03-10T09:00:00.5Z", "2026-03-10T09:00:00.123456Z",
                                  "2026-03-10T11:00:00.25+02:00", "2026-03-10T09:00:00+00:00",
                                  "2026-03-10T09:00:00"])
def test_a_wire_time_is_stored_as_the_orm_stores_it(wire: str) -> None:
    column = UTCDateTime()
    to_db = column.dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    assert to_db is not None
    assert stored_time(wire) == to_db(column.process_bind_param(TypeAdapter(datetime).validate_python(wire), None))


def test_no_time_stays_none() -> None:
    assert stored_time(None) is None
