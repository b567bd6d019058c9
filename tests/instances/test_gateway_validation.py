"""What the portal accepts from the gateway: a row it cannot store or show is rejected, with a safe reason."""

from __future__ import annotations

import pytest

from instances.gateway import GatewayInstance, InstanceRequestFailed, ProbeFailure, RejectedRow, parse_connection_state
from instances.gateway.parsing import read_instance_row
from instances.gateway.validation import safe_label


def rejected(row: object) -> RejectedRow:
    read = read_instance_row(row, position=2)
    assert isinstance(read, RejectedRow), read
    return read


def test_a_name_longer_than_the_column_is_rejected_and_quoted_short() -> None:
    read = rejected({"name": "z" * 101, "number": "5511999990001"})

    assert read.problem == "nome com 101 caracteres (máximo 100)"
    assert read.label == f"instância '{'z' * 40}…' (101 caracteres)"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("zap\x00-01", "nome com caractere de controle ou invisível (U+0000)"),
        ("zap\n01", "nome com caractere de controle ou invisível (U+000A)"),
        ("zap\u202e10-paz", "nome com caractere de controle ou invisível (U+202E)"),
        ("zap/01", "nome com '/'"),
        (42, "sem nome (ausente, vazio ou não é texto)"),
        ("   ", "sem nome (ausente, vazio ou não é texto)"),
    ],
)
def test_a_name_the_portal_cannot_store_or_link_is_rejected(name: object, problem: str) -> None:
    assert rejected({"name": name}).problem == problem


def test_the_label_escapes_control_characters() -> None:
    read = rejected({"name": "zap\x00\x1b[31m"})

    assert read.label == "instância 'zap\\x00\\x1b[31m'"
    assert "\x00" not in str(read) and "\x1b" not in str(read)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"name": "zap-01", "number": "1" * 33}, "número com 33 dígitos (máximo 32)"),
        ({"name": "zap-01", "ownerJid": f"{'9' * 40}@s.whatsapp.net"}, "número com 40 dígitos (máximo 32)"),
        ({"name": "zap-01", "number": 5511999990001}, "número não é texto (int)"),
        ({"name": "zap-01", "number": "55 11 9999"}, "número com caracteres que não são dígitos ('55 11 9999')"),
        ({"instance": {"instanceName": "zap-v1", "owner": f"{'1' * 33}@s.whatsapp.net"}}, "número com 33 dígitos"),
    ],
)
def test_a_number_that_is_not_a_phone_number_is_rejected(row: dict, problem: str) -> None:
    read = rejected(row)

    assert read.problem.startswith(problem)
    assert read.label.startswith("instância 'zap-")


def test_a_row_that_is_not_an_object_is_named_by_its_position() -> None:
    assert str(rejected(["zap-01"])) == "linha 3 da lista: não é um objeto JSON"


def test_a_good_row_is_read_and_a_code_out_of_range_reads_as_none() -> None:
    row = read_instance_row({"name": " zap-01 ", "number": "5511999990001", "disconnectionReasonCode": 10**12})

    assert row == GatewayInstance(name="zap-01", phone_number="5511999990001")


def test_free_text_from_the_gateway_is_kept_with_its_control_characters_escaped() -> None:
    boom = {"error": {"output": {"payload": {"message": "Connection\x00 Failure"}}}}

    row = read_instance_row({"name": "zap-01", "disconnectionReasonCode": 428, "disconnectionObject": boom})

    assert isinstance(row, GatewayInstance)
    assert row.disconnection_reason == "Connection\\x00 Failure"


def test_a_state_that_is_not_text_is_an_unreadable_answer() -> None:
    with pytest.raises(InstanceRequestFailed) as failed:
        parse_connection_state({"instance": {"instanceName": "zap-01", "state": {"open": True}}})

    assert failed.value.failure == ProbeFailure.BAD_BODY
    assert "estado não é texto" in str(failed.value)


def test_a_huge_status_reason_reads_as_no_code() -> None:
    assert parse_connection_state({"instance": {"state": "close", "statusReason": "9" * 5000}}) == ("close", None)


def test_safe_label_never_quotes_more_than_a_short_prefix() -> None:
    assert safe_label("x" * 10_000) == f"'{'x' * 40}…' (10000 caracteres)"
    assert safe_label(None) == "<NoneType>"
