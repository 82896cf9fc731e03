"""smsbatch core: config, CSV intake, SMS encoding, the EAPI client, the store and the sender.

Nothing in this package imports Slack libraries except the entry point that wires the app.
"""
