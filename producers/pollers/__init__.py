"""The pollers run by `tds poll`: stock sync, incremental reconcile and full sync of Zoho
records into `zoho.raw.bulk`, manual runs from `tds.commands`, and one scheduler per
cluster. `tds/commands/poll.py` wires them to Kafka, PostgreSQL and the Zoho client."""
