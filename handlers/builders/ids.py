"""Every Slack identifier the app uses, spelled once.

Builders put these into blocks and views; `handlers.app.register` listens for the same values;
`tests/test_handlers_manifest.py` holds them against `app_manifest.yml` and the registered
listeners.
"""

from __future__ import annotations

COMMAND = "/smsbatch"

# Buttons on the preview card.
APPROVE = "smsbatch_approve"
CANCEL = "smsbatch_cancel"
OPTIONS = "smsbatch_options"
TEST = "smsbatch_test"  # send the first message to the clicker's own phone
STOP = "smsbatch_stop"  # stop the rest of an approved batch

# The Home tab's button that opens the New batch modal.
HOME_NEW_BATCH = "smsbatch_home_new_batch"

# Modals (callback_id) and the inputs inside them (block_id == action_id for each input).
NEW_BATCH_VIEW = "smsbatch_new_batch"
OPTIONS_VIEW = "smsbatch_batch_options"
FILE_INPUT = "smsbatch_file"
PASTE_INPUT = "smsbatch_paste"
TEMPLATE_INPUT = "smsbatch_template"
SENDER_INPUT = "smsbatch_sender"
ROUTING_INPUT = "smsbatch_routing_group"
SCHEDULE_INPUT = "smsbatch_schedule"
TEST_MODE_INPUT = "smsbatch_test_mode"

# Prefix of the card's actions block; the full block_id also carries the batch and revision.
ACTIONS_BLOCK = "smsbatch_actions"

#: Every action_id the app registers a listener for (buttons on messages).
BUTTON_ACTIONS: tuple[str, ...] = (APPROVE, CANCEL, OPTIONS, TEST, STOP, HOME_NEW_BATCH)
#: Every callback_id of a modal the app opens and handles on submit.
CALLBACK_IDS: tuple[str, ...] = (NEW_BATCH_VIEW, OPTIONS_VIEW)
#: Every input inside the modals (never dispatched as actions; read from view state on submit).
INPUT_IDS: tuple[str, ...] = (
    FILE_INPUT,
    PASTE_INPUT,
    TEMPLATE_INPUT,
    SENDER_INPUT,
    ROUTING_INPUT,
    SCHEDULE_INPUT,
    TEST_MODE_INPUT,
)
#: Every slash command.
COMMANDS: tuple[str, ...] = (COMMAND,)
#: Events the app subscribes to (manifest `bot_events`) and the Bolt event types they deliver.
BOT_EVENTS: tuple[str, ...] = (
    "message.channels",
    "message.groups",
    "message.im",
    "file_shared",
    "app_home_opened",
)
EVENT_TYPES: tuple[str, ...] = ("message", "file_shared", "app_home_opened")
