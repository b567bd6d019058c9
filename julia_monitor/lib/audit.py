"""Words for the access audit: what a form changed, said as "Grupos: +Operadores, −Visualizadores"."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib.auth.models import Permission
from django.db.models import Model


def _label(value: object) -> str:
    if isinstance(value, Permission):
        # The codename names the permission exactly; its display name depends on the language.
        return f"{value.content_type.app_label}.{value.codename}"
    return str(value)


def _is_collection(value: object) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Model)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "sim" if value else "não"
    if value is None or value == "":
        return "—"
    return _label(value)


def describe_change(form: forms.BaseForm, name: str) -> str:
    """Return one changed field of a bound, valid form as "label: before → after" (sets: what was added and removed)."""
    field_label = str(form.fields[name].label or name)
    before, after = form.initial.get(name), form.cleaned_data.get(name)
    if _is_collection(before) or _is_collection(after):
        old = {_label(v) for v in (before or [])}
        new = {_label(v) for v in (after or [])}
        parts = [f"+{item}" for item in sorted(new - old)] + [f"−{item}" for item in sorted(old - new)]
        return f"{field_label}: {', '.join(parts) or 'sem mudança'}"
    return f"{field_label}: {_shown(before)} → {_shown(after)}"


def describe_changes(form: forms.BaseForm, names: Iterable[str]) -> str:
    """Return the changes of ``names`` among what the form changed, one per line."""
    return "\n".join(describe_change(form, name) for name in names if name in form.changed_data)
