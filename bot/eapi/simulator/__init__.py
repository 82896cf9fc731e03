"""The EAPI simulator: a real HTTP server (`server`), its account and de-duplication state
(`state`), an escaped-CSV reader written apart from the client's writer (`reader`), and the
simulated inbox whose writer is written apart from the client's parser (`inbox`).

Imports nothing from the client, so a round trip through both checks one against the other.
"""
