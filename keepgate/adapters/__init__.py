"""Implementations of the service ports: SQL, SMTP, the SMS gateway, development sinks."""
