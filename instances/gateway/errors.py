"""What can go wrong talking to Evolution: the gateway itself, or one instance's request.

``GatewayUnavailable`` when the gateway itself fails (unreachable, 5xx, 503 ``LICENSE_REQUIRED``,
a refused API key): never a reason to call instances offline. ``InstanceRequestFailed`` when one
instance's request fails (timeout, 404, a 200 whose body says ``"error": true``, garbage): it
only counts against that instance.
"""

from __future__ import annotations

from django.db import models


class GatewayErrorKind(models.TextChoices):
    UNREACHABLE = "unreachable", "gateway inacessível"
    TIMEOUT = "timeout", "gateway não respondeu a tempo"
    SERVER_ERROR = "server_error", "erro interno do gateway"
    LICENSE_REQUIRED = "license_required", "gateway sem licença (503 LICENSE_REQUIRED)"
    UNAUTHORIZED = "unauthorized", "chave de API recusada pelo gateway (401)"
    BAD_RESPONSE = "bad_response", "resposta inválida do gateway"


class GatewayUnavailable(Exception):
    """The gateway itself failed; says nothing about any one instance."""

    def __init__(self, kind: GatewayErrorKind, detail: str = "", http_status: int | None = None) -> None:
        self.kind = GatewayErrorKind(kind)
        self.detail = detail
        self.http_status = http_status
        super().__init__(f"{self.kind.label}: {detail}" if detail else str(self.kind.label))

    @property
    def permanent(self) -> bool:
        """A refused key will not fix itself; retrying only hammers the gateway."""
        return self.kind == GatewayErrorKind.UNAUTHORIZED


class ProbeFailure(models.TextChoices):
    TIMEOUT = "timeout", "sem resposta a tempo"
    NOT_FOUND = "not_found", "instância não existe no gateway (404)"
    ERROR_BODY = "error_body", "gateway respondeu com erro"
    BAD_BODY = "bad_body", "resposta ilegível"
    HTTP_ERROR = "http_error", "erro HTTP"
    # Gateway-level causes seen through a probe.
    UNREACHABLE = "unreachable", "gateway inacessível"
    SERVER_ERROR = "server_error", "erro interno do gateway"
    LICENSE_REQUIRED = "license_required", "gateway sem licença"
    UNAUTHORIZED = "unauthorized", "chave de API recusada"


# A probe meets these only because the whole gateway is failing (same values as GatewayErrorKind).
GATEWAY_LEVEL_FAILURES = frozenset(
    {ProbeFailure.UNREACHABLE, ProbeFailure.SERVER_ERROR, ProbeFailure.LICENSE_REQUIRED, ProbeFailure.UNAUTHORIZED}
)


class InstanceRequestFailed(Exception):
    """One instance's request failed (the gateway itself answered)."""

    def __init__(self, failure: ProbeFailure, detail: str = "", http_status: int | None = None) -> None:
        self.failure = ProbeFailure(failure)
        self.http_status = http_status
        super().__init__(f"{self.failure.label}: {detail}" if detail else str(self.failure.label))
