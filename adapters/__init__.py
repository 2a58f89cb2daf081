"""The trust side: applies marketplace events to a trust's own register and finance outputs.

Deployable on its own at a trust: it imports ``events`` (transport) and ``schemas``
(the contract), never ``marketplace``. ``adapters.route`` is the procurement route,
the one rule set every trust applies identically.
"""
