"""The one sender: a leased worker thread that submits approved chunks in order (`sender`, `steps`),
with retry policy (`retry`), the progress it reports (`notify`), stopped batches (`stopping`) and
test sends (`testsends`).

May import the ground floor, `bot.intake`, `bot.eapi` and `bot.store`; never the application layer.
"""
