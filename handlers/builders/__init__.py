"""Pure Block Kit: Slack IDs spelled once (`ids`), user-facing wording, message and view builders,
and a checker of Slack's published limits. No I/O; imports only `bot`'s values.
"""
