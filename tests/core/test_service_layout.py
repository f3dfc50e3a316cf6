"""The service layer's shape: ``Inbox`` composes parts that each stand on ``InboxBase``
alone (no chain of parts inheriting from each other), and no two parts define the same name,
so which part a method comes from never depends on the order of the bases."""

from __future__ import annotations

from tray_agent.core.base import InboxBase
from tray_agent.core.outbox import Outbox
from tray_agent.core.service import Inbox


def _parts() -> list[type]:
    return [c for c in Inbox.__mro__[1:] if c not in (InboxBase, object)]


def test_each_part_of_the_inbox_stands_on_the_base_alone() -> None:
    assert {c.__name__: c.__bases__ for c in _parts()} == {c.__name__: (InboxBase,) for c in _parts()}
    assert Inbox.__bases__ == tuple(_parts())


def test_no_two_parts_define_the_same_method() -> None:
    owners: dict[str, list[str]] = {}
    for part in _parts():
        for name in vars(part):
            if not name.startswith("__"):
                owners.setdefault(name, []).append(part.__name__)
    assert {n: o for n, o in owners.items() if len(o) > 1} == {}


def test_the_outbox_state_machine_is_one_part() -> None:
    outbox = {n for n in vars(Outbox) if n.startswith("outbox_")}
    assert outbox == {n for n in dir(Inbox) if n.startswith("outbox_")}
    assert {"update_status", "expire_early_statuses"} <= set(vars(Outbox))
