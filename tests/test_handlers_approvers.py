"""Who may approve: listed users, and members of listed user groups (cached a minute)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from handlers.plumbing.approvers import ApproverDirectory
from tests.fake_slack import FakeSlack, running_fake_slack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """A fake Slack that knows one user group."""
    with running_fake_slack() as server:
        server.groups["SOPS"] = ["UMEMBER"]
        yield server


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def directory(fake: FakeSlack, entries: tuple[str, ...], clock: Clock) -> ApproverDirectory:
    """An ApproverDirectory talking to the fake."""
    client = WebClient(token=fake.token, base_url=fake.api_url, timeout=5)
    return ApproverDirectory(client, entries, clock=clock)


def test_listed_users_and_group_members_may_approve(fake: FakeSlack) -> None:
    """U… entries approve directly; S… entries through their members."""
    approvers = directory(fake, ("UBOSS", "SOPS"), Clock())
    assert approvers.is_approver("UBOSS")
    assert approvers.is_approver("UMEMBER")
    assert not approvers.is_approver("USTRANGER")


def test_group_members_are_cached_for_a_minute(fake: FakeSlack) -> None:
    """A burst of checks costs one usergroups.users.list; after 60 s it is asked again."""
    clock = Clock()
    approvers = directory(fake, ("SOPS",), clock)
    for _ in range(5):
        assert approvers.is_approver("UMEMBER")
    assert len(fake.calls("usergroups.users.list")) == 1
    fake.groups["SOPS"] = []
    clock.now += 61
    assert not approvers.is_approver("UMEMBER")
    assert len(fake.calls("usergroups.users.list")) == 2


def test_a_group_that_cannot_be_resolved_grants_nobody(fake: FakeSlack) -> None:
    """An unknown group (or a missing usergroups:read scope) fails closed and is retried."""
    approvers = directory(fake, ("SGONE",), Clock())
    assert not approvers.is_approver("UMEMBER")
    assert not approvers.is_approver("UMEMBER")
    assert len(fake.calls("usergroups.users.list")) == 2
