"""Orders: trusts' call-off orders on the standard route, the suppliers' invoices against
them, and the payment of those invoices through Stripe."""
