"""The fleet part of the /dashboard API (placeholder)."""

from ninja import Router

router = Router(tags=["instâncias"])
