"""A doctor's phone number and CRM as people type them, and as the portal keeps them.

Phone: digits only, always with Brazil's country code: ``5511987654321``. People may type
``(11) 98765-4321``, ``+55 11 98765-4321`` or ``11987654321``; 10 or 11 digits are a DDD and a
number (55 is put in front), 12 or 13 digits must start with 55.

CRM (the regional medical council's registration): ``CRM/SP 123456``. Checked lightly: the
council's state (one of the 27 UFs) and 1 to 7 digits; ``crm-sp 123456``, ``CRM SP 123456`` and
``123456/SP`` are read as the same.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

COUNTRY_CODE = "55"
# Everything people put around the digits of a phone number; anything else (a letter) is refused.
PHONE_PUNCTUATION = re.compile(r"[\s().+\-/]")
# The 27 federative units, each with its regional medical council.
UF_CODES = "AC AL AM AP BA CE DF ES GO MA MG MS MT PA PB PE PI PR RJ RN RO RR RS SC SE SP TO"
UFS = frozenset(UF_CODES.split())
CRM_PATTERNS = (
    re.compile(r"^CRM\s*[-/ ]?\s*([A-Z]{2})\s*[-/ ]?\s*(\d{1,7})$"),
    re.compile(r"^(\d{1,7})\s*[-/ ]\s*([A-Z]{2})$"),  # 123456/SP: number first
)
PHONE_HELP = "DDD e número, com ou sem 55 na frente (ex.: (11) 98765-4321); guardado como 5511987654321."
CRM_HELP = "Formato CRM/UF número (ex.: CRM/SP 123456)."


def normalize_phone(value: object) -> str:
    """Return the phone number as ``55`` + DDD + number, or raise ``ValidationError`` (pt-BR)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet cell holding the number as a number
    text = PHONE_PUNCTUATION.sub("", str(value or ""))
    if not text:
        raise ValidationError("Informe o telefone.", code="required")
    if not text.isascii() or not text.isdigit():
        raise ValidationError(f"Telefone inválido: “{value}” tem caracteres que não são dígitos.", code="invalid")
    if len(text) in (10, 11):
        text = COUNTRY_CODE + text
    elif len(text) not in (12, 13) or not text.startswith(COUNTRY_CODE):
        raise ValidationError(
            f"Telefone inválido: “{value}”. Use DDD e número (10 ou 11 dígitos), com ou sem 55 na frente.",
            code="invalid",
        )
    if text[2] == "0":
        raise ValidationError(f"Telefone inválido: “{value}”: o DDD não começa com 0.", code="invalid")
    return text


def normalize_crm(value: object) -> str:
    """Return the CRM as ``CRM/UF number`` ("" for none), or raise ``ValidationError`` (pt-BR)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value or "").strip().upper()
    if not text:
        return ""
    for pattern in CRM_PATTERNS:
        if match := pattern.match(text):
            uf, number = match.groups() if pattern is CRM_PATTERNS[0] else reversed(match.groups())
            if uf in UFS:
                return f"CRM/{uf} {int(number)}"
            raise ValidationError(f"CRM inválido: “{value}”: {uf} não é uma UF.", code="invalid")
    raise ValidationError(f"CRM inválido: “{value}”. {CRM_HELP}", code="invalid")


def plain_text(value: object) -> str:
    """Return free text (a name, a specialty) stripped; refuse what a spreadsheet would run as a formula."""
    text = str(value or "").strip()
    if text.startswith("="):
        raise ValidationError(
            f"Texto inválido: “{text}” começa com “=” (seria uma fórmula na planilha).", code="invalid"
        )
    return text


def validate_crm(value: str) -> None:
    """Model validator: the CRM can be read (``normalize_crm``)."""
    normalize_crm(value)
