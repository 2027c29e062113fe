from decimal import Decimal

import pytest

from complaints.core.normalize import detect_language, fold, parse_amount, text_hash
from complaints.core.pii import contact_key, find_pii, luhn_ok, mask_text, valid_id_number

PHONE, ID_NO, CARD, EMAIL = "13812345678", "11010519491231002X", "6222021234567890128", "zhang.san@example.cn"


def test_mask_text_hides_every_kind() -> None:
    text = f"电话{PHONE}，身份证{ID_NO}，卡号{CARD}，邮箱{EMAIL}，备用 +86 139-8765-4321"
    masked = mask_text(text)
    for secret in (PHONE, ID_NO, CARD, EMAIL, "139-8765-4321", "8765"):
        assert secret not in masked
    assert "138****5678" in masked and "110***********002X" in masked
    assert "6222 **** **** 0128" in masked and "z***@example.cn" in masked
    assert find_pii(text) == {"email": 1, "phone": 2, "id_number": 1, "bank_card": 1, "ssn": 0}


def test_checksums_decide_what_is_an_id_or_card() -> None:
    assert valid_id_number(ID_NO) and not valid_id_number("110105194912310021")
    assert luhn_ok(CARD) and not luhn_ok("6222021234567890127")
    # An order number that fails Luhn is not a card and stays readable.
    assert mask_text("订单号 6222021234567890127") == "订单号 6222021234567890127"


def test_contact_key_matches_formats_of_one_person() -> None:
    k = contact_key(PHONE, "s")
    assert k == contact_key("+86 138 1234 5678", "s") == contact_key("１３８１２３４５６７８", "s")
    assert contact_key("Zhang.San@Example.cn", "s") == contact_key(EMAIL, "s")
    assert k != contact_key(PHONE, "other-secret")
    assert PHONE not in (k or "")
    assert contact_key("n/a", "s") is None


def test_fold_language_hash() -> None:
    assert fold("提现　失败！ＡＢＣ１２３\r\nnext") == "提现 失败!ABC123 next"
    assert detect_language("提现一直未到账 E1024") == "zh"
    assert detect_language("My withdrawal is stuck 提现") == "en"
    variants = ("提现失败，请尽快处理！", "提现失败,请尽快处理!  ", "提现失败 请尽快处理")
    assert len({text_hash(v) for v in variants}) == 1
    assert text_hash("提现失败") != text_hash("充值失败")


@pytest.mark.parametrize(
    ("raw", "amount", "currency"),
    [("¥1,234.50", Decimal("1234.50"), "CNY"), ("300元", Decimal("300.00"), "CNY"),
     ("{$1000.00}", Decimal("1000.00"), "USD"), ("８８", Decimal("88.00"), None), (88, Decimal("88.00"), None),
     ("", None, None), (None, None, None)],
)
def test_parse_amount(raw: object, amount: Decimal | None, currency: str | None) -> None:
    assert parse_amount(raw) == (amount, currency)


def test_parse_amount_rejects_words() -> None:
    with pytest.raises(ValueError, match="not an amount: '很多钱'"):
        parse_amount("很多钱")
