"""The end-to-end tests share tests/team's fixtures: the server behind a relay that can be cut."""

from tests.team.test_team_upstream import relay  # noqa: F401
