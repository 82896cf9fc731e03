"""Intake: the bytes of an upload become a checked plan (`plan.plan_batch`).

Decoding, CSV dialects, phone numbers, GSM encoding and parts, per-row overrides, prices, the
summary the card shows, and the worker process that runs it all off the app's GIL (`planner`).
May import only the ground floor (`bot.config`, `bot.errors`, `bot.model`, `bot.codec`).
"""
