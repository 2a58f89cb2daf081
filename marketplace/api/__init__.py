"""The JSON API, one blueprint per domain, mounted under ``/api/v1``."""
