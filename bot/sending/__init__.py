"""The one sender: a leased worker thread that submits approved chunks in order (`sender`, `steps`),
with retry policy (`retry`), the progress it reports (`notify`), stopped batches (`stopping`),
test sends (`testsends`), and side work on its connection (`side`; `reports`: delivery-report
polling, and pushed reports applied the same way; the inbox in `inbox`, `replies`, `keywords`)
and the last consent check before a send (`gate`).

May import the ground floor, `bot.intake`, `bot.eapi` and `bot.store`; never the application layer.
"""
