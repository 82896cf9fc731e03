"""Durable state: every SQL statement (`db.Store`; the suppression list's and the replies' in
`suppression`, `inbox` and `lookup`), schema migrations, the hash-chained audit log, typed
records read from rows, and the sender's lease.

May import the ground floor and `bot.intake` (plan summaries are stored as columns).
"""
