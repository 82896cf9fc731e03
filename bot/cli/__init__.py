"""The `smsbatch-bot` command line (`main`) and one module per subcommand.

`run` is the composition root: the only module of `bot` that imports `handlers` or the Slack
libraries. Every command module may import any layer of `bot`. Beside them, what `run` starts:
`replicate` (the supervised Litestream) and `metrics` (the Prometheus registry).
"""
