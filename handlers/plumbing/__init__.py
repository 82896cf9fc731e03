"""Slack-side machinery: the web client wrapper, card posting and edits, the throttled notifier,
file downloads, approver look-ups, the job pool, replies posted in Slack, and the HTTP (WSGI)
front.

May import `handlers.builders` and `bot`; never the listeners or the app factory.
"""
