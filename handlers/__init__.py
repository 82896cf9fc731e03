"""The Slack adapter: listeners, Block Kit builders, wording, file download and the notifier.

`handlers` imports `bot`; `bot` never imports `handlers` or Slack libraries (except the entry
point that wires the app).
"""
