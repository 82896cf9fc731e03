"""Bolt listeners: each acks, unpacks its payload, calls the core, and renders with a builder.

`register(app, services)` in each module wires it. May import `handlers.services`,
`handlers.plumbing`, `handlers.builders` and `bot`'s application layer.
"""
