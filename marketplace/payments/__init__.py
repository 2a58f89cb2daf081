"""Payments: the Stripe side (customers per trust, off-session charges, signed webhooks).

Stripe is reached only through :mod:`marketplace.payments.gateway`, so the rest of the
marketplace deals in integer pence and our own ids, never in Stripe objects.
"""
