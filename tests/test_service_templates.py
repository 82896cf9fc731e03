"""A templated batch through the service: stored with its template, kept across an Options
change, and approved only with the digest of the filled messages it previewed."""

from __future__ import annotations

from pathlib import Path

from bot.model import SendOptions
from tests.core_helpers import APPROVER, PREPARER, make_core

ROWS = b"msisdn,name\n447400123456,Ann\n447400123457,Bob\n"


def test_an_options_change_keeps_the_template_and_stale_digests_are_refused(
    tmp_path: Path,
) -> None:
    """The Options modal has no template: the batch keeps its own; the old click is refused."""
    core = make_core(tmp_path / "svc.db")
    batch_id = core.prepare(ROWS, template="Hi ((name))")
    old = core.service.get(batch_id)
    assert [m.text for m in old.plan.messages] == ["Hi Ann", "Hi Bob"]
    prepared = [e for e in core.store.audit_entries(batch_id) if e.event == "batch_prepared"]
    assert prepared[0].detail_dict()["options"]["template"] == "Hi ((name))"
    new = core.service.change_options(batch_id, SendOptions(sender="Acme"), PREPARER)
    assert new.plan.options.template == "Hi ((name))"
    assert [m.text for m in new.plan.messages] == ["Hi Ann", "Hi Bob"]
    assert new.digest != old.digest
    assert not core.service.approve(batch_id, APPROVER, old.digest).ok
    assert core.service.approve(batch_id, APPROVER, new.digest).ok


def test_a_batch_without_a_template_keeps_its_old_digest_form(tmp_path: Path) -> None:
    """Options without a template serialise as before, so stored digests stay valid."""
    core = make_core(tmp_path / "svc.db")
    batch_id = core.prepare()
    entry = next(e for e in core.store.audit_entries(batch_id) if e.event == "batch_prepared")
    assert "template" not in entry.detail_dict()["options"]
