"""The service layer: every rule and state change, called by views and the CLI alike."""
