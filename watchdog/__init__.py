"""``forewarn watchdog``: forewarn watching itself (heartbeats, consumer lag, age of the newest event).

It alerts straight to a webhook and/or by SMTP, never through Kafka or the responder, so the part
that failed cannot also silence the alert about it.
"""
