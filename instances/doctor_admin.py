"""Doctors in the admin: the change form's checks and the spreadsheet import/export (pt-BR).

Who may: importing needs "add" and "change" on doctors, exporting (names and phone numbers)
"change": the Administradores role (``julia_monitor/roles.py``). django-import-export has no
permissions of its own; the checks are here, on the server, for every step of both views.

Every confirmed import is recorded in the admin's LogEntry (the doctor's "Histórico" and the
admin's recent actions: who, when, one entry per doctor created or updated, the import's totals
in its message) and as one line in the ``instances.doctors`` log.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.options import BaseModelAdmin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import XLSX
from import_export.forms import ExportForm
from import_export.results import Result, RowResult

from instances.doctor_fields import CRM_HELP, PHONE_HELP, normalize_crm, normalize_phone, plain_text
from instances.doctor_io import DoctorResource, SpreadsheetCSV
from instances.models import Doctor
from julia_monitor.lib.people import signed_in_user

logger = logging.getLogger("instances.doctors")


class DoctorForm(forms.ModelForm):
    """The change form stores phone and CRM the way an import does, so both find the same doctor."""

    class Meta:
        model = Doctor
        fields = ("name", "phone_number", "crm", "especialidade", "preferred_instance")
        help_texts = {"phone_number": PHONE_HELP, "crm": CRM_HELP}

    def clean_name(self) -> str:
        return plain_text(self.cleaned_data.get("name", ""))

    def clean_especialidade(self) -> str:
        return plain_text(self.cleaned_data.get("especialidade", ""))

    def clean_phone_number(self) -> str:
        phone = self.cleaned_data.get("phone_number", "")
        return normalize_phone(phone) if phone else ""

    def clean_crm(self) -> str:
        return normalize_crm(self.cleaned_data.get("crm", ""))


def import_summary(result: Result) -> str:
    totals = result.totals
    return (
        f"{totals[RowResult.IMPORT_TYPE_NEW]} novo(s), {totals[RowResult.IMPORT_TYPE_UPDATE]} atualizado(s), "
        f"{totals[RowResult.IMPORT_TYPE_SKIP]} sem mudança"
    )


class DoctorImportExportMixin(ImportExportMixin):
    """django-import-export for doctors: CSV and XLSX, preview first, all or nothing."""

    resource_classes = [DoctorResource]
    formats = [SpreadsheetCSV, XLSX]
    # The plain export form, on a page of our own: the library's selectable-fields form and page
    # carry inline handlers and styles, which the Content-Security-Policy blocks; an export
    # always has every column anyway, so that it imports back.
    export_form_class = ExportForm
    import_template_name = "admin/instances/doctor/import.html"
    export_template_name = "admin/instances/doctor/export.html"

    def has_import_permission(self, request: HttpRequest) -> bool:
        assert isinstance(self, BaseModelAdmin)
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        assert isinstance(self, BaseModelAdmin)
        return self.has_change_permission(request)

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # The confirmed import is rolled back on a bad row too, not only on an exception: a
        # file that changed between the preview and the confirmation changes nothing.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result: Result, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            messages.error(
                request,
                "Importação recusada: o arquivo tem linhas com erro, nenhum médico foi alterado. "
                "Envie o arquivo de novo para ver os erros.",
            )
            return redirect("admin:instances_doctor_import")
        response: HttpResponse = super().process_result(result, request)
        logger.info("doctors imported by %s: %s", signed_in_user(request).get_username(), import_summary(result))
        return response

    def generate_log_entries(self, result: Result, request: HttpRequest) -> None:
        """One LogEntry per doctor created or updated: who, when, and the import's totals (pt-BR)."""
        summary = import_summary(result)
        for import_type, flag, verb in (
            (RowResult.IMPORT_TYPE_NEW, ADDITION, "Criado"),
            (RowResult.IMPORT_TYPE_UPDATE, CHANGE, "Atualizado"),
        ):
            doctors = [row.instance for row in result if row.import_type == import_type]
            if doctors:
                message = f"{verb} por importação de planilha ({summary})."
                LogEntry.objects.log_actions(signed_in_user(request).pk, doctors, flag, change_message=message)

    def add_success_message(self, result: Result, request: HttpRequest) -> None:
        messages.success(request, f"Importação concluída: {import_summary(result)}.")
