"""Every error of the /dashboard API in one shape, said in Portuguese, and written in its schema.

Errors come from three places, and each is turned into ``{"detail": "…"}`` here:

- django-ninja's own refusals and our ``HttpError``s (no credentials, a body that is not JSON,
  a CSRF failure, 403/404/409 from the operations): ``http_error``;
- validation of parameters and bodies: ``validation_error`` keeps one sentence in ``detail``
  and each problem, by field, in ``erros``;
- Django itself, before or after an operation runs (an unknown path, a method the path does
  not take, an uncaught exception): ``JsonApiErrorsMiddleware`` rewrites any error response
  under the API's prefix that is not JSON, whatever ``DEBUG`` says.

``document_errors`` adds the statuses every operation can answer to the OpenAPI schema.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse
from ninja.errors import AuthenticationError, HttpError, ValidationError
from pydantic_core.core_schema import ErrorType

from julia_monitor.lib.api_shapes import INVALID_CHARACTER, Erro, ErroValidacao

API_KEY_HEADER = "X-API-Key"
UNAUTHENTICATED = f"Não autenticado: envie o cabeçalho {API_KEY_HEADER} ou entre no portal."

# What django-ninja itself refuses before our code runs, said in the product's language.
FRAMEWORK_MESSAGES = {
    "Unauthorized": UNAUTHENTICATED,
    "Forbidden": "Sem permissão.",
    "Cannot parse request body": "O corpo da requisição não é um JSON válido.",
    "CSRF check Failed": f"Falha na verificação CSRF: envie o token CSRF da sessão ou use {API_KEY_HEADER}.",
}

# Errors Django answers by itself, with the sentence the API says instead.
STATUS_MESSAGES = {
    400: "Requisição inválida.",
    401: UNAUTHENTICATED,
    403: "Sem permissão.",
    404: "Endereço não encontrado na API.",
    405: "Método não permitido neste endereço.",
    413: "Requisição grande demais.",
    500: "Erro interno do servidor; o erro foi registrado.",
}


def error_response(status: int, detail: str, **beside: Any) -> JsonResponse:
    response = JsonResponse({"detail": detail, **beside}, status=status, json_dumps_params={"ensure_ascii": False})
    if status == 401:
        # RFC 9110: a 401 names how to authenticate. There is no registered scheme for a key
        # header, so the header's name goes in a parameter.
        response["WWW-Authenticate"] = f'ApiKey header="{API_KEY_HEADER}"'
    return response


def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    translated = next((pt for en, pt in FRAMEWORK_MESSAGES.items() if message.startswith(en)), message)
    if isinstance(exc, AuthenticationError):
        translated = UNAUTHENTICATED
    return error_response(exc.status_code, translated)


# --- Validation ----------------------------------------------------------------------------------

BUILTIN_ERROR_TYPES = frozenset(typing.get_args(ErrorType))

# pydantic's own messages are English; these are the ones the API's inputs can produce.
PYDANTIC_MESSAGES = {
    "missing": "é obrigatório.",
    "extra_forbidden": "não é um campo conhecido.",
    "int_parsing": "deve ser um número inteiro.",
    "int_type": "deve ser um número inteiro.",
    "int_from_float": "deve ser um número inteiro.",
    "string_type": "deve ser um texto.",
    "string_too_short": "deve ter ao menos {min_length} caractere(s).",
    "string_too_long": "deve ter no máximo {max_length} caracteres.",
    "greater_than_equal": "deve ser maior ou igual a {ge}.",
    "less_than_equal": "deve ser menor ou igual a {le}.",
    "greater_than": "deve ser maior que {gt}.",
    "less_than": "deve ser menor que {lt}.",
    "enum": "deve ser um destes: {expected}.",
    "literal_error": "deve ser um destes: {expected}.",
    "model_type": "deve ser um objeto JSON.",
    "model_attributes_type": "deve ser um objeto JSON.",
    "dict_type": "deve ser um objeto JSON.",
    "json_invalid": "não é um JSON válido.",
    "bool_parsing": "deve ser verdadeiro ou falso.",
    "datetime_parsing": "deve ser uma data e hora ISO 8601.",
    "datetime_type": "deve ser uma data e hora ISO 8601.",
    "string_unicode": "contém caracteres inválidos (não é UTF-8 válido).",
}


def _field(loc: tuple | list) -> str:
    """Return the field a validation error is about (``quantidade``), not its place in ninja's models."""
    source, *rest = loc
    # A body parameter's own name (``payload``) says nothing to a client: the body is the object.
    path = rest[1:] if source == "body" else rest
    return ".".join(str(part) for part in path) or "corpo"


def _problem(error: dict[str, Any]) -> dict[str, str]:
    kind = str(error.get("type", ""))
    field = _field(error.get("loc", ("body",)))
    if kind in BUILTIN_ERROR_TYPES:
        template = PYDANTIC_MESSAGES.get(kind, "tem um valor inválido.")
        try:
            context = {k: str(v).replace("' or '", "' ou '") for k, v in error.get("ctx", {}).items()}
            message = f"{field} {template.format(**context)}"
        except (KeyError, IndexError):
            message = f"{field} tem um valor inválido."
    else:
        # Our own validators (PydanticCustomError) already speak Portuguese and name the field.
        message = str(error.get("msg", ""))
        if not message.startswith(field) and field != "corpo":
            message = f"{field} {message}"
    return {"campo": field, "mensagem": message, "tipo": kind}


def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """422 for values the API does not take; 400 when text holds characters no text may (a NUL).

    The second is a malformed request rather than a wrong value, and the same 400 the site
    answers for such characters in a URL.
    """
    problems = [_problem(error) for error in exc.errors]
    detail = "Dados inválidos: " + " ".join(p["mensagem"] for p in problems)
    status = 400 if any(p["tipo"] in (INVALID_CHARACTER, "string_unicode") for p in problems) else 422
    return error_response(status, detail, erros=problems)


# --- Errors Django answers itself ----------------------------------------------------------------


def api_prefix() -> str | None:
    try:
        return reverse("dashboard:api-root")
    except NoReverseMatch:
        return None


class JsonApiErrorsMiddleware:
    """Under the API's prefix an error is JSON: Django's HTML 404/500 and ninja's plain 405 are rewritten."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
            return response
        prefix = api_prefix()
        if prefix is None or not request.path.startswith(prefix):
            return response
        status = response.status_code
        rewritten = error_response(status, STATUS_MESSAGES.get(status, "Requisição recusada."))
        for header in ("Allow", "Retry-After"):
            if header in response:
                rewritten[header] = response[header]
        return rewritten


# --- The schema ----------------------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    400: "Requisição inválida: corpo que não é JSON, ou texto com caracteres inválidos (NUL, controle)",
    401: "Não autenticado",
    403: "Sem permissão",
    404: "Não encontrado",
    409: "Conflito com o estado atual",
    422: "Dados inválidos",
}


def _error_content(status: int) -> dict[str, Any]:
    name = "ErroValidacao" if status == 422 else "Erro"
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add to every operation the errors any of them can answer, in the one error shape.

    An operation with credentials can answer 401; one that takes input (parameters or a body)
    400 and 422. Statuses an operation answers by its own rules (403, 404, 409) are declared
    on the operation itself.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Erro"] = Erro.model_json_schema()
    components["ErroValidacao"] = ErroValidacao.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["ErroValidacao"].pop("$defs", {}))
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            shared = [401] if operation.get("security") else []
            if operation.get("parameters") or operation.get("requestBody"):
                shared += [400, 422]
            responses = {int(status): body for status, body in operation.get("responses", {}).items()}
            for status in {*shared, *responses}:
                if status in ERROR_DESCRIPTIONS:
                    responses[status] = _error_content(status)
            operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
    return schema
