"""What the portal accepts from the gateway, checked before anything reaches the database.

The gateway is outside our control: one row with a name longer than the column, a NUL byte
(PostgreSQL refuses it in any text column) or a number of 40 digits must not fail the insert
that carries the whole fleet. Such a row is rejected here, with a reason a person can act on,
and the rest of the fleet is checked as usual (``instances.checks``; the alert is
"Dados inválidos do gateway"). Free text that is only shown (error messages, disconnection
details) is kept, with its control characters escaped.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from instances.models import Instance
from julia_monitor.lib.text import has_invalid_characters, one_line

NAME_MAX = Instance._meta.get_field("name").max_length or 100
NUMBER_MAX = Instance._meta.get_field("phone_number").max_length or 32
# Baileys/WhatsApp disconnection codes are HTTP-like (401 … 515).
CODE_RANGE = range(0, 1000)
# How much of an offending value an alert or a log line quotes.
LABEL_MAX = 40

ZERO_WIDTH_JOINER = "\u200d"  # a format character, but part of ordinary emoji sequences


def _is_invisible(char: str) -> bool:
    """The format characters (bidi overrides, zero-width spaces) that make one name look like another."""
    return char != ZERO_WIDTH_JOINER and unicodedata.category(char) == "Cf"


def _is_unsafe(char: str) -> bool:
    """Controls, line separators and lone surrogates (as everywhere, ``lib.text``), and the invisible ones."""
    return has_invalid_characters(char) or _is_invisible(char)


def escape_text(value: str) -> str:
    """Return ``value`` escaped as every log line is (``one_line``), its invisible characters as ``\\uNNNN`` too."""
    line = one_line(value)
    if line.isascii():
        return line
    return "".join(f"\\u{ord(c):04x}" if _is_invisible(c) else c for c in line)


def safe_label(value: Any) -> str:
    """Return a short, printable quote of a value from the gateway: escaped, cut at LABEL_MAX characters."""
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    text = escape_text(value)
    return f"'{text[:LABEL_MAX]}…' ({len(value)} caracteres)" if len(text) > LABEL_MAX else f"'{text}'"


@dataclass(frozen=True)
class RejectedRow:
    """A row (or a probe's answer) the portal refused, and why, in words safe to show and log."""

    label: str
    problem: str

    def __str__(self) -> str:
        return f"{self.label}: {self.problem}"


def name_problem(name: Any) -> str:
    """Return what is wrong with an instance name from the gateway, or "" if it can be stored and shown."""
    if not isinstance(name, str) or not name.strip():
        return "sem nome (ausente, vazio ou não é texto)"
    if len(name) > NAME_MAX:
        return f"nome com {len(name)} caracteres (máximo {NAME_MAX})"
    unsafe = next((c for c in name if _is_unsafe(c)), None)
    if unsafe is not None:
        return f"nome com caractere de controle ou invisível (U+{ord(unsafe):04X})"
    if "/" in name:
        # The instance's page is /instancias/<nome>/: a slash would make it unreachable.
        return "nome com '/'"
    return ""


def number_problem(number: Any) -> str:
    """Return what is wrong with a phone number or JID from the gateway, or "" (absent is fine)."""
    if number is None or number == "":
        return ""
    if not isinstance(number, str):
        return f"número não é texto ({type(number).__name__})"
    user = number.split("@", 1)[0].split(":", 1)[0].strip().lstrip("+")
    if not user.isascii() or not user.isdigit():
        return f"número com caracteres que não são dígitos ({safe_label(number)})"
    if len(user) > NUMBER_MAX:
        return f"número com {len(user)} dígitos (máximo {NUMBER_MAX})"
    return ""


def usable_code(code: int | None) -> int | None:
    """Return a disconnection code, or None for one outside the codes WhatsApp uses (not storable news)."""
    return code if code is not None and code in CODE_RANGE else None
