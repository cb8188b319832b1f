"""Block Kit rendering: pure functions from fpbot's data to Slack messages.

Nothing here imports Slack's SDK or talks to anything: a renderer takes typed values and
returns `Message` values (a plain ``text`` fallback and Block Kit blocks as dicts) that are
always within Slack's limits. Every string that comes from a user or from the API is escaped
here, and no renderer but `render_secret_delivery` ever shows a secret.
"""
