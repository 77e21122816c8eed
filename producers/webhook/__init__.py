"""The Zoho webhook gateway: verify, read, key and publish raw events to Kafka.

`add_routes(app, settings=..., publisher=..., metrics=...)` mounts it on an aiohttp
application; `tds web` serves it.
"""
