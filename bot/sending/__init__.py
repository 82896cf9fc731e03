"""The one sender: a leased worker thread that submits approved chunks in order (`sender`, `steps`),
with retry policy (`retry`) and the progress it reports (`notify`); its side tasks (`side`: the
inbox in `inbox`, `replies`, `keywords`) and the last consent check before a send (`gate`).

May import the ground floor, `bot.intake`, `bot.eapi` and `bot.store`; never the application layer.
"""
