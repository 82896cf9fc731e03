"""The BulkSMS EAPI: the HTTP client (`client`), the send_batch wire format (`batchcsv`), delivery
reports (`reports`: get_report and the report status table), replies (`inbox`: get_inbox and
pushed replies), and a local stand-in server for tests, staging and demos (`simulator/`).

May import the ground floor and `bot.intake` (the GSM alphabet's EAPI forms); never the store.
"""
