"""The public contract as code: marshmallow schemas for API bodies and event payloads.

Both the marketplace and the trust adapters import this package; it imports neither.
"""
