"""triage: reply triage and referral extraction for outbound sales mailboxes.

The data flows one way: a source yields raw messages, :mod:`triage.parsing`
turns them into replies, :mod:`triage.decide` labels them and extracts the
contact, :mod:`triage.forward` composes the warm forward, :mod:`triage.store`
keeps every decision and the outbox.
"""

__version__ = "0.1.0"
