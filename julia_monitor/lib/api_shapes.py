"""What every router of the /dashboard API shares: the error body and text that is safe to store.

Every error of the API is ``{"detail": "<a sentence in Portuguese>"}``; a validation error
keeps that sentence and lists each problem beside it in ``erros``.

Text from a client is checked before it reaches the database: PostgreSQL refuses a NUL byte
in a string (the query fails, a 500), and a lone surrogate cannot be encoded as UTF-8. Both,
and the other control characters, are a 4xx said in Portuguese, with nothing changed.
"""

from __future__ import annotations

import re
from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError


class Erro(Schema):
    detail: str


class Problema(Schema):
    campo: str
    mensagem: str
    tipo: str


class ErroValidacao(Schema):
    detail: str
    erros: list[Problema]


# C0 controls, DEL, C1 controls and the surrogate range: a line of text allows none of them;
# free text (a note) may also break lines and use tabs.
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def invalid_character_in(value: str, *, multiline: bool = False) -> bool:
    """Return True when ``value`` holds a character that text from a client may not (NUL, controls)."""
    return (_NOT_IN_TEXT if multiline else _NOT_IN_A_LINE).search(value) is not None


INVALID_CHARACTER = "caractere_invalido"


def _one_line(value: str) -> str:
    if invalid_character_in(value):
        raise PydanticCustomError(INVALID_CHARACTER, "contém caracteres inválidos (controle ou NUL).")
    return value


def _free_text(value: str) -> str:
    if invalid_character_in(value, multiline=True):
        raise PydanticCustomError(INVALID_CHARACTER, "contém caracteres inválidos (controle ou NUL).")
    return value


# The same rules, written in the schema for clients (ECMA-262 regular expressions).
NOT_IN_A_LINE = "\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff"  # a class's ranges, to build patterns from
LINE_CHARACTER = f"[^{NOT_IN_A_LINE}]"
LINE_PATTERN = f"^{LINE_CHARACTER}*$"
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\ud800-\\udfff]*$"

# A name, an id, a filter: one line of printable text.
Linha = Annotated[str, AfterValidator(_one_line), Field(json_schema_extra={"pattern": LINE_PATTERN})]
# A note: printable text that may span lines.
Texto = Annotated[str, AfterValidator(_free_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
