"""`python -m bot` is the same as the `smsbatch-bot` console script."""

from bot.cli.main import main

raise SystemExit(main())
