"""Durable state: every SQL statement (`db.Store`, and per area `reports`, `restores`, `home`,
`stats`, and the suppression list's and the replies' in `suppression`, `inbox` and `lookup`),
schema migrations, the hash-chained audit log, typed records read from rows, the sender's lease,
and the restore guard's marker file (`home`).

May import the ground floor and `bot.intake` (plan summaries are stored as columns).
"""
