"""app_manifest.yml: valid against Slack's schema, and in step with the code that uses it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from handlers.builders import ids
from tests.slack_harness import APPROVER, Harness, running_harness

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "app_manifest.yml"
# The official schema dispatches on _metadata.major_version; these are the versions we hold.
# A copy lives in tests/schemas so the test never depends on files outside the checkout.
SCHEMAS = {1: ROOT / "tests" / "schemas" / "slack-app-manifest.schema.json"}
SHARED_SCHEMA = ROOT.parent / "shared" / "schemas" / "slack-app-manifest.schema.json"

# Web API method (as called on WebClient) -> the bot scope it needs.
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "files_info": "files:read",
    "files_upload_v2": "files:write",
    "usergroups_users_list": "usergroups:read",
    "views_open": None,  # needs only a trigger_id
    "users_info": "users:read",  # the phone of a Test clicker's profile
    "views_publish": None,  # the Home tab: no scope of its own
    "conversations_open": "im:write",  # New batch from the Home tab: its preview goes to the DM
}
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "file_shared": "files:read",
    "app_home_opened": None,  # needs no scope
}


def manifest() -> dict[str, Any]:
    """The manifest as data."""
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def schema_for(data: dict[str, Any]) -> dict[str, Any]:
    """The schema of the manifest's major version (as manifest.schema.json dispatches)."""
    version = data.get("_metadata", {}).get("major_version", 1)
    if version not in SCHEMAS:
        raise AssertionError(f"no schema for manifest major_version {version}")
    loaded: dict[str, Any] = json.loads(SCHEMAS[version].read_text())
    return loaded


def test_the_schema_copy_matches_the_shared_one() -> None:
    """The copy in tests/schemas is the one shared beside the checkout (when it is there)."""
    if SHARED_SCHEMA.is_file():
        assert SCHEMAS[1].read_bytes() == SHARED_SCHEMA.read_bytes()
    assert json.loads(SCHEMAS[1].read_text())["title"] == "App Manifest"


def test_manifest_is_valid_against_the_official_schema() -> None:
    """jsonschema finds no error in app_manifest.yml."""
    data = manifest()
    jsonschema.Draft7Validator(schema_for(data)).validate(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["features"]["slash_commands"][0].update(command="smsbatch"), "does not match"),
        (lambda m: m["settings"].update(interactivity={}), "is_enabled"),
        (lambda m: m.update(surprise=True), "Additional properties"),
    ],
)
def test_the_schema_check_catches_broken_manifests(change: Any, message: str) -> None:
    """The validation used above really fails on a broken manifest."""
    data = manifest()
    change(data)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.Draft7Validator(schema_for(data)).validate(data)


def test_commands_and_events_match_handlers_ids() -> None:
    """The manifest's command and bot events are exactly those in handlers/builders/ids.py."""
    data = manifest()
    commands = tuple(c["command"] for c in data["features"]["slash_commands"])
    assert commands == ids.COMMANDS
    assert tuple(data["settings"]["event_subscriptions"]["bot_events"]) == ids.BOT_EVENTS
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is True


def called_methods() -> set[str]:
    """Every WebClient method the Slack layer calls (`client.<method>(`)."""
    source = "\n".join(p.read_text() for p in (ROOT / "handlers").rglob("*.py"))
    return set(re.findall(r"client\.([a-z]+_[A-Za-z0-9_]+)\(", source))


def test_scopes_are_exactly_what_the_code_uses() -> None:
    """Bot scopes = the calls' scopes + the events' scopes + commands; nothing more."""
    methods = called_methods()
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add the scope of {unknown} to METHOD_SCOPES (and to the manifest)"
    needed = {METHOD_SCOPES[m] for m in methods} - {None}
    needed |= {EVENT_SCOPES[e] for e in ids.BOT_EVENTS} | {"commands"}
    needed -= {None}
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The real app, to see what create_app registers."""
    with running_harness(tmp_path) as harness:
        yield harness


def block_action(action_id: str) -> dict[str, Any]:
    """A minimal block_actions payload for one button."""
    return {
        "type": "block_actions",
        "user": {"id": APPROVER},
        "team": {"id": "T0001"},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
        "channel": {"id": "C1"},
        "trigger_id": "t",
        "actions": [{"action_id": action_id, "value": "999", "type": "button", "block_id": "b"}],
    }


def view_submission(callback_id: str) -> dict[str, Any]:
    """A minimal view_submission payload for one modal."""
    return {
        "type": "view_submission",
        "user": {"id": APPROVER},
        "team": {"id": "T0001"},
        "api_app_id": "A0APP",
        "view": {
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": json.dumps({"channel": "C1", "batch": 999, "ts": "1.1"}),
            "state": {"values": {}},
        },
    }


def test_every_id_has_a_registered_listener_and_nothing_else_does(h: Harness) -> None:
    """Each action_id, callback_id and the command is answered 200; an unknown one 404."""
    assert h.command("help").status == 200
    for action_id in ids.BUTTON_ACTIONS:
        assert h.interaction(block_action(action_id)).status == 200, action_id
    for callback_id in ids.CALLBACK_IDS:
        assert h.interaction(view_submission(callback_id)).status == 200, callback_id
    assert h.interaction(block_action("smsbatch_unknown")).status == 404
    for event in ("message", "file_shared"):
        assert event in ids.EVENT_TYPES
        assert h.event({"type": event, "channel": "C1", "ts": "1.1"}).status == 200


def test_only_the_composition_root_imports_slack_libraries_in_bot() -> None:
    """bot/ stays free of Slack: only bot/cli/run.py wires the Slack adapter."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "bot").rglob("*.py")
        if p.relative_to(ROOT).as_posix() != "bot/cli/run.py"
        and re.search(r"^\s*(from|import) (slack_|handlers)", p.read_text(), re.M)
    ]
    assert offenders == []
