"""Every way the marketplace is started: the command line, dev, the server and the workers.

Each builds what it needs from :func:`marketplace.bootstrap.bootstrap`; library modules
hold no ``main()``, logging set-up or signal handlers of their own.
"""
