"""Kept only for the benchmark scripts in bench/, which import ``tests.fakes_slack``; tests use tests/fakes/slack.py."""

from tests.fakes.slack import FakeSlack

__all__ = ["FakeSlack"]
