"""Doctors in and out of spreadsheets (CSV, XLSX) through django-import-export.

Columns: ``nome``, ``telefone``, ``crm``, ``especialidade``, ``instancia_preferida`` (an
instance's name). A doctor is identified by the phone number (the natural key): the CRM is
optional, so it cannot be one. A row whose phone matches a doctor updates that doctor, a row
identical to the doctor is skipped, so importing an export changes nothing. One bad row refuses
the whole file: the admin shows every bad row with its error and offers no confirmation, and
the import itself runs in one transaction rolled back on any error.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import tablib
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.utils.html import format_html
from django.utils.safestring import SafeString
from import_export import fields, resources, widgets
from import_export.formats.base_formats import CSV
from import_export.resources import Diff
from tablib import Dataset

from instances.doctor_fields import normalize_crm, normalize_phone, plain_text
from instances.models import Doctor, Instance

COLUMNS = {
    "name": "nome",
    "phone_number": "telefone",
    "crm": "crm",
    "especialidade": "especialidade",
    "preferred_instance": "instancia_preferida",
}
REQUIRED_COLUMNS = ("nome", "telefone")


def _message(error: ValidationError) -> str:
    return " ".join(error.messages)


class TextWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        try:
            return plain_text(value)
        except ValidationError as error:
            raise ValueError(_message(error)) from None


class NameWidget(TextWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        text = super().clean(value, row, **kwargs)
        if not text:
            raise ValueError("Informe o nome.")
        return text


class PhoneWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        try:
            return normalize_phone(value)
        except ValidationError as error:
            raise ValueError(_message(error)) from None


class CrmWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        try:
            return normalize_crm(value)
        except ValidationError as error:
            raise ValueError(_message(error)) from None


class InstanceByNameWidget(widgets.ForeignKeyWidget):
    """The preferred instance by its name; an empty cell is none, an unknown name an error."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Instance | None:
        name = str(value or "").strip()
        if not name:
            return None
        try:
            return Instance.objects.get(name=name)
        except Instance.DoesNotExist:
            raise ValueError(f"Instância desconhecida: “{name}”.") from None


class PlainDiff(Diff):
    """The preview's before/after without inline styles (the admin runs under a strict CSP).

    The library's diff marks changes with ``style=`` attributes, which the policy blocks.
    """

    def as_html(self) -> list[SafeString]:
        cells = []
        for before, after in zip(self.left, self.right, strict=False):
            if before == after or self.new:
                cells.append(format_html("{}", after))
            else:
                cells.append(format_html("<del>{}</del> <ins>{}</ins>", before, after))
        return cells


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


class SpreadsheetCSV(CSV):
    """CSV as it comes: UTF-8 (a BOM is fine) or, failing that, Windows-1252; columns split by
    commas or, as Excel in Portuguese saves them, by semicolons. Exports are UTF-8 with commas.

    Read as bytes (``is_binary``) so that the encoding is decided here, not by the upload's storage.
    """

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: bytes | str, **kwargs: Any) -> Dataset:
        text = in_stream if isinstance(in_stream, str) else _decode(in_stream)
        header = text.split("\n", 1)[0]
        delimiter = ";" if header.count(";") > header.count(",") else ","
        return tablib.import_set(text, format="csv", delimiter=delimiter)


class DoctorResource(resources.ModelResource):
    name = fields.Field(attribute="name", column_name=COLUMNS["name"], widget=NameWidget())
    phone_number = fields.Field(attribute="phone_number", column_name=COLUMNS["phone_number"], widget=PhoneWidget())
    crm = fields.Field(attribute="crm", column_name=COLUMNS["crm"], widget=CrmWidget())
    especialidade = fields.Field(attribute="especialidade", column_name=COLUMNS["especialidade"], widget=TextWidget())
    preferred_instance = fields.Field(
        attribute="preferred_instance",
        column_name=COLUMNS["preferred_instance"],
        widget=InstanceByNameWidget(Instance, field="name"),
    )

    class Meta:
        model = Doctor
        fields = tuple(COLUMNS)
        export_order = tuple(COLUMNS)
        import_id_fields = ("phone_number",)
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        clean_model_instances = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._seen_phones: Counter[str] = Counter()
        self._by_phone: dict[str, list[int]] = {}

    def get_diff_class(self) -> type[Diff]:
        return PlainDiff

    def before_import(self, dataset: Dataset, **kwargs: Any) -> None:
        headers = [str(h or "").strip() for h in dataset.headers or []]
        missing = [column for column in REQUIRED_COLUMNS if column not in headers]
        if missing:
            raise ValueError(
                f"Coluna obrigatória ausente: {', '.join(missing)}. Colunas: {', '.join(COLUMNS.values())}."
            )
        dataset.headers = headers
        # Doctors typed in before phones were normalised are found by their digits all the same.
        self._by_phone = {}
        for pk, phone in Doctor.objects.exclude(phone_number="").values_list("pk", "phone_number"):
            try:
                self._by_phone.setdefault(normalize_phone(phone), []).append(pk)
            except ValidationError:
                continue
        self._seen_phones = Counter()
        for phone in dataset[COLUMNS["phone_number"]]:
            try:
                self._seen_phones[normalize_phone(phone)] += 1
            except ValidationError:
                continue

    def get_instance(self, instance_loader: Any, row: Any) -> Doctor | None:
        try:
            phone = normalize_phone(row.get(COLUMNS["phone_number"]))
        except ValidationError:
            return None  # the phone field reports it
        pks = self._by_phone.get(phone, [])
        return Doctor.objects.filter(pk=pks[0]).first() if len(pks) == 1 else None

    def validate_instance(
        self, instance: Model, import_validation_errors: dict[str, Any] | None = None, validate_unique: bool = True
    ) -> None:
        errors = dict(import_validation_errors or {})
        assert isinstance(instance, Doctor)
        phone = instance.phone_number
        if "phone_number" not in errors and phone:
            if self._seen_phones[phone] > 1:
                errors["phone_number"] = ValidationError(f"Telefone {phone} repetido no arquivo.")
            elif len(self._by_phone.get(phone, [])) > 1:
                errors["phone_number"] = ValidationError(f"Telefone {phone} pertence a mais de um médico cadastrado.")
        if "crm" not in errors and instance.crm:
            other = Doctor.objects.filter(crm=instance.crm).exclude(pk=instance.pk).first()
            if other is not None:
                errors["crm"] = ValidationError(f"CRM {instance.crm} já é de outro médico ({other.name}).")
        try:
            super().validate_instance(instance, errors, validate_unique)
        except ValidationError as error:
            # Keyed by the file's column names, which is what the person reading the preview knows.
            raise ValidationError({COLUMNS.get(key, key): value for key, value in error.message_dict.items()}) from None
