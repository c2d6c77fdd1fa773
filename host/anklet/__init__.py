"""anklet host: decode, store, triage and alert on events from the anklet band."""

__version__ = "0.1.0"
