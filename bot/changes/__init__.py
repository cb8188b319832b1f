"""Change requests: every change to the Fingerprint account waits here for approval."""
