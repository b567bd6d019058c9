"""The alert pages' forms: the log's filters (the API's names and values) and an action's note."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts.choices import AlertState, Rule, Severity
from alerts.models import AlertQuerySet
from instances.models import Instance
from julia_monitor.lib.text import has_invalid_characters

CONTROL_CHARACTERS_IN_NOTE = "A nota não pode ter caracteres de controle (NUL, quebras de linha, tabulações…)."


def _blank(choices: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    return [("", label), *choices]


class AlertFilterForm(forms.Form):
    """The log's filters: the same names and values as ``GET /dashboard/alerts``."""

    estado = forms.ChoiceField(label="Estado", required=False, choices=_blank(AlertState.choices, "Todos"))
    severidade = forms.ChoiceField(label="Severidade", required=False, choices=_blank(Severity.choices, "Todas"))
    regra = forms.ChoiceField(label="Regra", required=False, choices=_blank(Rule.choices, "Todas"))
    instancia = forms.ChoiceField(
        label="Instância",
        required=False,
        error_messages={"invalid_choice": "Instância desconhecida: %(value)s."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One query for the names, used both to validate and to list them (a fleet has ~1,000).
        names = Instance.objects.order_by("name").values_list("name", flat=True)
        instancia = self.fields["instancia"]
        assert isinstance(instancia, forms.ChoiceField)  # the form's copy of the field declared above
        instancia.choices = _blank([(n, n) for n in names], "Todas")

    def filter(self, alerts: AlertQuerySet) -> AlertQuerySet:
        """Apply the filters that are valid; an invalid one is shown as an error and ignored."""
        data = getattr(self, "cleaned_data", {})
        return alerts.matching(data.get("estado"), data.get("severidade"), data.get("regra"), data.get("instancia"))


def reject_control_characters(value: str) -> None:
    # NUL has Django's own check (its message is replaced below); this one says the same of the rest.
    if has_invalid_characters(value.replace("\x00", "")):
        raise ValidationError(CONTROL_CHARACTERS_IN_NOTE, code="control_characters")


class ActionForm(forms.Form):
    # One line of the operator's words: it goes to the timeline, the admin and the API as written.
    nota = forms.CharField(
        label="Nota (opcional)",
        required=False,
        max_length=500,
        strip=False,  # a trailing newline is refused, not silently dropped (the view strips spaces)
        validators=[reject_control_characters],
        error_messages={"null_characters_not_allowed": CONTROL_CHARACTERS_IN_NOTE},
    )


class MaintenanceForm(forms.Form):
    """Schedule a maintenance window for one instance from its page (local time, São Paulo)."""

    inicio = forms.DateTimeField(
        label="Início", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    fim = forms.DateTimeField(label="Fim", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    motivo = forms.CharField(label="Motivo", max_length=200)

    def clean_motivo(self) -> str:
        reason = self.cleaned_data["motivo"].strip()
        if has_invalid_characters(reason):
            raise ValidationError("O motivo não pode ter caracteres de controle.")
        return reason

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("inicio"), data.get("fim")
        if end is not None and end <= (start or timezone.now()):
            self.add_error("fim", "O fim deve ser depois do início.")
        return data
