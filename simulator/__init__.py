"""A faithful fake of Zoho Books v3 / Inventory v1, OAuth and webhooks, with fault injection."""
