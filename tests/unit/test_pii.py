"""Personal data: masking, field encryption and log redaction (ARCHITECTURE.md, PIPL)."""

from __future__ import annotations

import base64
import io
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.pii import (
    DecryptionError,
    FieldCipher,
    PiiRedactingFilter,
    generate_secret,
    mask_id_number,
    mask_phone,
    redact,
)

KEY = bytes(range(32))
CIPHER = FieldCipher(KEY)


def test_an_id_number_shows_its_first_six_and_last_four_characters() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_id_number(" 11010519491231002x ") == "110105********002X"
    assert mask_id_number("440524188001010") == "440524*****1010"  # old 15-digit number
    assert mask_id_number("1234567890") == "**********"


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13800000000", "138****0000"),
        ("138-0000-0000", "138****0000"),
        ("+86 138 0000 0000", "138****0000"),
        ("020-00000000", "020-****0000"),
        ("(020)12345678", "020-****5678"),
        ("02012345678", "020-****5678"),
        ("0755-1234567-801", "0755-***4567-***"),
        ("0755 1234567 转 801", "0755-***4567-***"),
        ("400-800-1234", "***-***-1234"),
        ("95588", "*5588"),
        ("", ""),
    ],
)
def test_phones_keep_only_what_identifies_nobody(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_a_field_round_trips_and_each_encryption_differs() -> None:
    first = CIPHER.encrypt("11010519491231002X", associated_data="org-1")
    second = CIPHER.encrypt("11010519491231002X", associated_data="org-1")
    assert first != second
    assert first.startswith("v1.")
    assert "11010519491231002X" not in first
    assert CIPHER.decrypt(first, associated_data="org-1") == "11010519491231002X"


@given(st.text(), st.one_of(st.none(), st.text(), st.binary()))
def test_any_text_round_trips(plain: str, ad: str | bytes | None) -> None:
    assert CIPHER.decrypt(CIPHER.encrypt(plain, associated_data=ad), associated_data=ad) == plain


def test_a_tampered_token_is_detected() -> None:
    token = CIPHER.encrypt("13800000000")
    body = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    for position in (0, 12, len(body) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(body)
        tampered[position] ^= 1
        forged = "v1." + base64.urlsafe_b64encode(bytes(tampered)).decode().rstrip("=")
        with pytest.raises(DecryptionError):
            CIPHER.decrypt(forged)


def test_another_key_or_other_associated_data_cannot_decrypt() -> None:
    token = CIPHER.encrypt("13800000000", associated_data="org-1")
    with pytest.raises(DecryptionError):
        FieldCipher(bytes(32)).decrypt(token, associated_data="org-1")
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(token, associated_data="org-2")
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(token)


@pytest.mark.parametrize(
    "token", ["", "v1.", "v2.AAAA", "v1.not base64!", "v1.AAAA", "13800000000"]
)
def test_malformed_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(DecryptionError) as e:
        CIPHER.decrypt(token)
    assert "13800000000" not in str(e.value)


def test_the_master_key_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher(b"short")


def test_a_generated_secret_builds_a_working_cipher() -> None:
    secret = generate_secret()
    cipher = FieldCipher.from_secret(secret)
    assert FieldCipher.from_secret(secret).decrypt(cipher.encrypt("x")) == "x"
    standard = base64.b64encode(KEY).decode()  # standard base64 with padding is accepted too
    assert FieldCipher.from_secret(standard).decrypt(CIPHER.encrypt("y")) == "y"
    with pytest.raises(ValueError):
        FieldCipher.from_secret("not base64 at all!")


def test_blind_indexes_match_equal_values_only_within_their_scope() -> None:
    a = CIPHER.blind_index("11010519491231002X", scope="legal_representative.id_number")
    assert a == CIPHER.blind_index("11010519491231002X", scope="legal_representative.id_number")
    assert a != CIPHER.blind_index("110105194912310021", scope="legal_representative.id_number")
    assert a != CIPHER.blind_index("11010519491231002X", scope="contact.phone")
    assert a != FieldCipher(bytes(32)).blind_index(
        "11010519491231002X", scope="legal_representative.id_number"
    )
    assert len(a) == 64
    assert "11010519491231002X" not in a


def test_redact_masks_ids_and_mobiles_in_free_text() -> None:
    text = (
        "法人 11010519491231002X 手机13800000000, tel +86 139-1234-5678; order 1234567890123456789"
    )
    assert redact(text) == (
        "法人 110105********002X 手机138****0000, tel 139****5678; order 1234567890123456789"
    )


def _log_through_filter(logger_name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(PiiRedactingFilter())
    logger = logging.getLogger(logger_name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_the_log_filter_masks_message_and_arguments() -> None:
    logger, stream = _log_through_filter("test.pii.args")
    logger.info(
        "registered %s with representative %s, phone %d", "org-1", "11010519491231002X", 13800000000
    )
    logger.info("contact %(phone)s", {"phone": "13912345678"})
    logger.info("inline 440524188001010014 in the message")
    out = stream.getvalue()
    assert "registered org-1 with representative 110105********002X, phone 138****0000" in out
    assert "contact 139****5678" in out
    assert "inline 440524********0014" in out
    for raw in ("11010519491231002X", "13800000000", "13912345678", "440524188001010014"):
        assert raw not in out


def test_the_log_filter_masks_exception_text() -> None:
    logger, stream = _log_through_filter("test.pii.exc")
    try:
        raise ValueError("bad id 11010519491231002X")
    except ValueError:
        logger.exception("import failed for 13800000000")
    out = stream.getvalue()
    assert "11010519491231002X" not in out and "13800000000" not in out
    assert "ValueError: bad id 110105********002X" in out


def test_the_log_filter_survives_a_broken_format_string() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "id %s %s", ("11010519491231002X",), None
    )
    assert PiiRedactingFilter().filter(record)
    assert record.args == ("110105********002X",)
