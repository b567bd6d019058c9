"""Doctors in and out of spreadsheets through the real admin views: preview, confirm, all or nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook, load_workbook

from instances.models import Doctor, Instance

IMPORT = "/admin/instances/doctor/import/"
CONFIRM = "/admin/instances/doctor/process_import/"
EXPORT = "/admin/instances/doctor/export/"
CSV_FORMAT, XLSX_FORMAT = "0", "1"
HEADER = ["nome", "telefone", "crm", "especialidade", "instancia_preferida"]
GOOD_ROWS = [
    ["Dra. Ana Souza", "(11) 98765-4321", "crm-sp 123456", "Cardiologia", "julia-sp-01"],
    ["Dr. Bruno Lima", "+55 21 99876-5432", "", "Pediatria", "julia-rj-01"],
    ["Dra. Carla Dias", "5531988887777", "CRM/MG 4567", "", ""],
]


def csv_upload(rows: list[list[Any]], header: list[str] = HEADER, name: str = "medicos.csv") -> SimpleUploadedFile:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return SimpleUploadedFile(name, text.getvalue().encode(), content_type="text/csv")


def xlsx_upload(rows: list[list[Any]], name: str = "medicos.xlsx") -> SimpleUploadedFile:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    return SimpleUploadedFile(name, data.getvalue(), content_type="application/vnd.ms-excel")


def preview(client: Client, upload: SimpleUploadedFile, file_format: str = CSV_FORMAT) -> Any:
    response = client.post(IMPORT, {"import_file": upload, "format": file_format, "resource": "0"})
    assert response.status_code == 200
    return response


def confirm(client: Client, response: Any) -> Any:
    form = response.context["confirm_form"]
    assert form is not None, "a prévia não ofereceu confirmação"
    return client.post(CONFIRM, form.initial, follow=True)


def doctors() -> list[tuple[str, str, str, str, str | None]]:
    return [
        (d.name, d.phone_number, d.crm, d.especialidade, d.preferred_instance.name if d.preferred_instance else None)
        for d in Doctor.objects.select_related("preferred_instance").order_by("name")
    ]


IMPORTED = [
    ("Dr. Bruno Lima", "5521998765432", "", "Pediatria", "julia-rj-01"),
    ("Dra. Ana Souza", "5511987654321", "CRM/SP 123456", "Cardiologia", "julia-sp-01"),
    ("Dra. Carla Dias", "5531988887777", "CRM/MG 4567", "", None),
]


@pytest.fixture
def fleet(make_instance) -> list[Instance]:
    return [make_instance("julia-sp-01"), make_instance("julia-rj-01")]


def test_a_csv_is_previewed_then_imported_and_the_import_is_recorded(as_administrator, administrator, fleet):
    response = preview(as_administrator, csv_upload(GOOD_ROWS))

    page = response.content.decode()
    assert "Prévia" in page and "Dra. Ana Souza" in page and "5511987654321" in page
    assert Doctor.objects.count() == 0  # the preview changed nothing

    page = confirm(as_administrator, response).content.decode()

    assert doctors() == IMPORTED
    assert "Importação concluída: 3 novo(s), 0 atualizado(s), 0 sem mudança." in page
    entries = LogEntry.objects.filter(user=administrator, action_flag=ADDITION)
    assert entries.count() == 3
    assert {e.change_message for e in entries} == {
        "Criado por importação de planilha (3 novo(s), 0 atualizado(s), 0 sem mudança)."
    }


def test_a_csv_saved_by_excel_in_portuguese_is_read(as_administrator, fleet):
    lines = [";".join(HEADER), *(";".join(row) for row in GOOD_ROWS)]
    upload = SimpleUploadedFile("medicos.csv", "\r\n".join(lines).encode("cp1252"), content_type="text/csv")

    confirm(as_administrator, preview(as_administrator, upload))

    assert doctors() == IMPORTED


def test_an_xlsx_is_imported_numbers_and_all(as_administrator, fleet):
    rows = [[*row] for row in GOOD_ROWS]
    rows[2][1] = 5531988887777  # a spreadsheet keeps a phone typed as a number as a number

    confirm(as_administrator, preview(as_administrator, xlsx_upload(rows), XLSX_FORMAT))

    assert doctors() == IMPORTED


def test_the_export_imports_back_as_a_no_op(as_administrator, fleet):
    confirm(as_administrator, preview(as_administrator, csv_upload(GOOD_ROWS)))
    entries = LogEntry.objects.count()

    page = as_administrator.get(EXPORT).content.decode()
    assert "A planilha terá todos os médicos, com as colunas <code>nome, telefone, crm, especialidade" in page
    exported_csv = as_administrator.post(EXPORT, {"format": CSV_FORMAT, "resource": "0"})
    assert exported_csv.content.decode().splitlines()[0] == ",".join(HEADER)
    exported = as_administrator.post(EXPORT, {"format": XLSX_FORMAT, "resource": "0"})
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    assert len(rows) == 4

    response = preview(as_administrator, xlsx_upload(rows[1:]), XLSX_FORMAT)
    page = confirm(as_administrator, response).content.decode()

    assert doctors() == IMPORTED
    assert "0 novo(s), 0 atualizado(s), 3 sem mudança" in page
    assert LogEntry.objects.count() == entries  # nothing changed, nothing to record


def test_an_export_never_hands_a_spreadsheet_a_formula(as_administrator, fleet):
    Doctor.objects.create(name='=HYPERLINK("http://x.example","clique")', phone_number="5511987654321")

    exported = as_administrator.post(EXPORT, {"format": XLSX_FORMAT, "resource": "0"})

    cell = load_workbook(io.BytesIO(exported.content)).active["A2"]
    assert cell.data_type == "s" and not str(cell.value).startswith("=")


def test_a_row_with_the_phone_of_a_doctor_updates_that_doctor(as_administrator, fleet):
    # Typed in by hand before phones were normalised: found by its digits all the same.
    Doctor.objects.create(name="Ana", phone_number="+55 (11) 98765-4321")
    confirm(as_administrator, preview(as_administrator, csv_upload(GOOD_ROWS[:1])))

    assert doctors() == [IMPORTED[1]]


def test_one_bad_row_refuses_the_file_and_every_bad_row_is_shown_in_portuguese(as_administrator, fleet):
    Doctor.objects.create(name="Dr. Já Cadastrado", phone_number="5511900001111", especialidade="Clínica")
    before = doctors()
    rows = [
        GOOD_ROWS[0],
        ["Dr. Sem Instância", "11 91234-5678", "", "", "julia-xx-99"],
        ["Dr. Telefone Ruim", "1234", "", "", ""],
        ["", "11 97777-6666", "", "", ""],
        ["Dr. CRM Ruim", "11 96666-5555", "CRM/XX 12", "", ""],
        ["Dr. Já Cadastrado", "11 90000-1111", "", "Cardiologia", "julia-sp-01"],  # a good update
        ["=1+1", "11 95555-4444", "", "", ""],
    ]

    response = preview(as_administrator, csv_upload(rows))

    page = response.content.decode()
    assert response.context.get("confirm_form") is None  # nothing to confirm
    assert "Linhas com erro" in page
    invalid = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert invalid == {
        2: {"instancia_preferida": ["Instância desconhecida: “julia-xx-99”."]},
        3: {"telefone": ["Telefone inválido: “1234”. Use DDD e número (10 ou 11 dígitos), com ou sem 55 na frente."]},
        4: {"nome": ["Informe o nome."]},
        5: {"crm": ["CRM inválido: “CRM/XX 12”: XX não é uma UF."]},
        7: {"nome": ["Texto inválido: “=1+1” começa com “=” (seria uma fórmula na planilha)."]},
    }
    for message in ("Instância desconhecida: “julia-xx-99”.", "Informe o nome.", "XX não é uma UF."):
        assert message in page
    assert doctors() == before


def test_a_file_that_went_bad_after_its_preview_changes_nothing(as_administrator, fleet, settings, tmp_path):
    response = preview(as_administrator, csv_upload(GOOD_ROWS))
    Instance.objects.filter(name="julia-rj-01").update(name="julia-rj-02")  # the second row's instance is gone

    page = confirm(as_administrator, response).content.decode()

    assert "Importação recusada" in page
    assert Doctor.objects.count() == 0


def test_a_file_without_the_phone_column_is_refused_with_the_reason(as_administrator, fleet):
    upload = csv_upload([["Dra. Ana"]], header=["nome"])

    response = preview(as_administrator, upload)

    assert response.context.get("confirm_form") is None
    page = response.content.decode()
    assert "Coluna obrigatória ausente: telefone." in page
    assert "Traceback" not in page


def test_a_repeated_phone_in_the_file_is_an_error(as_administrator, fleet):
    rows = [GOOD_ROWS[0], ["Outra Ana", "11987654321", "", "", ""]]

    response = preview(as_administrator, csv_upload(rows))

    invalid = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert invalid[2] == {"telefone": ["Telefone 5511987654321 repetido no arquivo."]}


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_cannot_import_or_export(client, role, request, fleet):
    client.force_login(request.getfixturevalue(role))

    for path in (IMPORT, EXPORT):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    response = client.post(IMPORT, {"import_file": csv_upload(GOOD_ROWS), "format": CSV_FORMAT})
    assert response.status_code == 302
    assert Doctor.objects.count() == 0


def test_staff_who_may_only_see_doctors_get_403(client, django_user_model, fleet):
    from django.contrib.auth.models import Permission

    user: User = django_user_model.objects.create_user("estagiaria", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_doctor"))
    client.force_login(user)

    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT, {"import_file": csv_upload(GOOD_ROWS), "format": CSV_FORMAT}).status_code == 403
    assert client.post(CONFIRM, {"import_file_name": "x", "original_file_name": "x", "format": "0"}).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert "Importar" not in client.get("/admin/instances/doctor/").content.decode()
    assert Doctor.objects.count() == 0


def test_the_change_form_stores_phone_and_crm_as_an_import_does(as_administrator, fleet):
    response = as_administrator.post(
        "/admin/instances/doctor/add/",
        {"name": "Dra. Ana", "phone_number": "(11) 98765-4321", "crm": "crm sp 123456", "especialidade": ""},
    )
    assert response.status_code == 302
    assert Doctor.objects.get().phone_number == "5511987654321"
    assert Doctor.objects.get().crm == "CRM/SP 123456"

    response = as_administrator.post("/admin/instances/doctor/add/", {"name": "Dr. B", "phone_number": "12ab"})
    assert "tem caracteres que não são dígitos" in response.content.decode()
