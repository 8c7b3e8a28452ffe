"""通知 (notifications that reach someone, issue 17; T25, X21, X34a): the outbox in Redis, the
escalation chains over the duty roster (``incidents.duty``), and the worker that sends through
the channel adapters the composition root gives it (``app/channels``: in-app, SMTP, SMS). The
domain never opens a connection. Guide: docs/notify.md.
"""

from incidents.notify.chains import Chains, upper_center
from incidents.notify.model import (
    CHANNEL_NAMES,
    Message,
    PermanentError,
    Sender,
    TransientError,
    delivery_id,
)
from incidents.notify.outbox import Contacts, NotifyConfig, Outbox
from incidents.notify.worker import FeedWatcher, NotifyWorker

__all__ = ["CHANNEL_NAMES", "Chains", "Contacts", "FeedWatcher", "Message", "NotifyConfig",
           "NotifyWorker", "Outbox", "PermanentError", "Sender", "TransientError", "delivery_id",
           "upper_center"]
