"""Start (or find) the Kafka broker and PostgreSQL server TDS needs, without Docker."""
