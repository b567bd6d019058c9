"""Direct usage reporting for senders that are not behind Evolution webhooks (placeholder)."""

from ninja import Router

router = Router(tags=["uso"])
