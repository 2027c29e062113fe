"""mask_text catches personal values in every format issue 16 lists, wherever they sit in zh/en text, and leaves
ordinary numbers alone.

Generated values: mainland mobiles (plain, fullwidth, dotted, spaced, dashed, +86/0086, digit by digit, with
zero-width spaces), ID-card numbers with a real checksum and birth date (plain, 6-8-4 with spaces or dashes,
fullwidth, lower-case x), Luhn-valid bank cards (plain, in fours), US SSNs, US phones ((202) 555-0143,
+1 415 555 0199, 202-555-0143, 202.555.0143) and emails (also with a fullwidth @ or fully fullwidth). The property:
neither the value as written, nor its NFKC form, nor its bare digits survive in the masked text.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from complaints.core.normalize import account_ref
from complaints.core.pii import (
    contact_key,
    find_pii,
    install_log_masking,
    is_email,
    mask_contact,
    mask_text,
    no_one,
    normalise_contact,
)

FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
ZWSP = "\u200b"

digit = st.sampled_from("0123456789")


def digits(n: int) -> st.SearchStrategy[str]:
    return st.lists(digit, min_size=n, max_size=n).map("".join)


def fullwidth(value: str) -> str:
    return value.translate(FULLWIDTH)


mobile_digits = st.builds(lambda p, rest: f"1{p}{rest}", st.sampled_from("3456789"), digits(9))
MOBILE_FORMATS = [
    lambda d: d, fullwidth, lambda d: f"{d[:3]}.{d[3:7]}.{d[7:]}", lambda d: f"{d[:3]} {d[3:7]} {d[7:]}",
    lambda d: f"{d[:3]}-{d[3:7]}-{d[7:]}", lambda d: f"+86 {d[:3]}-{d[3:7]}-{d[7:]}", lambda d: f"+86{d}",
    lambda d: f"0086 {d}", lambda d: " ".join(d), lambda d: ZWSP.join(d),
    lambda d: fullwidth(f"{d[:3]}-{d[3:7]}-{d[7:]}"), lambda d: f"{d[:3]} - {d[3:7]} - {d[7:]}",
]


@st.composite
def id_digits(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)))
    body = f"{draw(digits(6))}{born:%Y%m%d}{draw(digits(3))}"
    return body + ric.calc_check_digit(body + "0")


ID_FORMATS = [
    lambda d: d, lambda d: f"{d[:6]} {d[6:14]} {d[14:]}", lambda d: f"{d[:6]}-{d[6:14]}-{d[14:]}", fullwidth,
    lambda d: d.lower(), lambda d: fullwidth(f"{d[:6]} {d[6:14]} {d[14:]}"),
]


@st.composite
def card_digits(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from(["6222", "4111", "5500", "6212"])) + draw(digits(draw(st.sampled_from([11, 14]))))
    return body + luhn.calc_check_digit(body)


CARD_FORMATS = [lambda d: d, lambda d: " ".join(re.findall(".{1,4}", d)), lambda d: "-".join(re.findall(".{1,4}", d)),
                fullwidth]
ssn_digits = st.builds(lambda a, g, s: a + g + s, digits(3), digits(2), digits(4))
SSN_FORMATS = [lambda d: f"{d[:3]}-{d[3:5]}-{d[5:]}", lambda d: f"{d[:3]} {d[3:5]} {d[5:]}",
               lambda d: fullwidth(f"{d[:3]}-{d[3:5]}-{d[5:]}")]
us_digits = st.builds(lambda a, b, c, rest: f"{a}{b}{c}{rest}", st.sampled_from("23456789"), digits(2),
                      st.sampled_from("23456789"), digits(6))
US_FORMATS = [
    lambda d: f"({d[:3]}) {d[3:6]}-{d[6:]}", lambda d: f"+1 {d[:3]} {d[3:6]} {d[6:]}",
    lambda d: f"{d[:3]}-{d[3:6]}-{d[6:]}", lambda d: f"{d[:3]}.{d[3:6]}.{d[6:]}",
    lambda d: f"1-{d[:3]}-{d[3:6]}-{d[6:]}", lambda d: f"+1 ({d[:3]}) {d[3:6]}-{d[6:]}",
    lambda d: f"+1{d}", lambda d: fullwidth(f"({d[:3]}) {d[3:6]}-{d[6:]}"),
]
emails = st.builds(lambda a, b, dom, tld: f"{a}{b}@{dom}.{tld}",
                   st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=1),
                   st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", max_size=12),
                   st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10),
                   st.sampled_from(["com", "cn", "com.cn", "org", "net"]))
EMAIL_FORMATS = [lambda e: e, lambda e: e.replace("@", "＠"), fullwidth, lambda e: e.replace("@", "﹫"),
                 lambda e: e.partition("@")[0] + "@" + e.partition("@")[2].replace(".", "。")]


def formatted(values: st.SearchStrategy[str], formats: list) -> st.SearchStrategy[tuple[str, str]]:
    """(value as written, its digits or address) pairs."""
    return st.tuples(values, st.sampled_from(formats)).map(lambda t: (t[1](t[0]), t[0]))


PII = st.one_of(formatted(mobile_digits, MOBILE_FORMATS), formatted(id_digits(), ID_FORMATS),
                formatted(card_digits(), CARD_FORMATS), formatted(ssn_digits, SSN_FORMATS),
                formatted(us_digits, US_FORMATS), formatted(emails, EMAIL_FORMATS))
# Surrounding text: Chinese and English words and punctuation, never digits (a digit glued to a number makes
# another number) and never the characters that join digit groups.
WORDS = st.lists(st.sampled_from(["提现", "一直", "未到账", "我的", "手机", "身份证", "卡号", "邮箱", "请联系", "，",
                                  "。", "！", "：", "the", "refund", "call me on", "my SSN is", "card", "email", "ID",
                                  ", ", ": ", "\n", "（", "）", "《", "》", "Refund A&B", "退款"]),
                 min_size=1, max_size=6).map("".join)


def survivors(masked: str, written: str, value: str) -> list[str]:
    """The forms of one value still readable in masked text (as written, NFKC-folded, or its bare digits once the
    characters that join digit groups are taken out)."""
    folded = unicodedata.normalize("NFKC", masked)
    bare = re.sub(r"[\s.\-()\u200b]", "", folded)
    forms = {written, unicodedata.normalize("NFKC", written), value}
    out = [form for form in forms if form in masked or form in folded]
    plain = unicodedata.normalize("NFKC", value)
    value_digits = re.sub(r"\D", "", plain)
    if "@" not in plain and value_digits in bare:
        out.append(value_digits)
    return out


def glue(*pieces: str) -> str:
    """The pieces joined, with a space where two ASCII letters or digits would touch: "the" + "a@b.cn" is the
    address the0@b.cn to any reader, so English words are spaced from what follows them."""
    out = ""
    for piece in pieces:
        first = unicodedata.normalize("NFKC", piece[:1])[:1]
        last = unicodedata.normalize("NFKC", out[-1:])[-1:]
        touching = all(c.isascii() and c.isalnum() for c in (first, last)) and first and last
        out += (" " if touching else "") + piece
    return out


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(WORDS, PII), min_size=1, max_size=4), WORDS)
# Found by this test: the phone's digit run went on into the address after it and ended in a letter.
@example([("the", ("(200) 200-0000", "2002000000")), ("（", ("0a@0.com", "0a@0.com"))], "提现")
def test_no_generated_personal_value_survives(parts: list[tuple[str, tuple[str, str]]], tail: str) -> None:
    text = glue(*(x for words, (written, _) in parts for x in (words, written)), tail)
    masked = mask_text(text)
    for _, (written, value) in parts:
        assert survivors(masked, written, value) == [], (text, masked)
    # The words around them stay as they were.
    for words, _ in parts:
        assert words.strip(" ,:\n") in masked


@settings(max_examples=300, deadline=None)
@given(WORDS, PII, WORDS)
def test_every_format_is_counted(before: str, pii: tuple[str, str], after: str) -> None:
    assert sum(find_pii(glue(before, pii[0], after)).values()) == 1


ISSUE_EXAMPLES = ["１３９１２３４５６７８", "139.8765.4321", "139 8765 4321", "+86 139-8765-4321",
                  "440306 19851231 1236", "123-45-6789", "(202) 555-0143", "+1 415 555 0199", "202-555-0143",
                  "202.555.0143", "zhang.san＠example.cn"]


@pytest.mark.parametrize("value", ISSUE_EXAMPLES)
def test_issue_examples_in_zh_and_en(value: str) -> None:
    for text in (f"我的号码{value}，请尽快处理", f"Please call {value} today.", value):
        masked = mask_text(text)
        assert survivors(masked, value, value) == [], masked


@pytest.mark.parametrize(("text", "number"), [("phone@me.com 4155550199", "4155550199"),
                                              ("tel a1@b.com 4155550199", "4155550199"),
                                              ("ssn@irs.gov 123456789", "123456789")])
def test_a_bare_number_after_an_address_is_read_with_the_words_before_it(text: str, number: str) -> None:
    """The words that make a bare number personal, inside the address before it or before that address."""
    assert number not in mask_text(text)


@pytest.mark.parametrize(("text", "number"), [("a@b.com13912345678", "13912345678"),
                                              ("联系me@x.cn13912345678谢谢", "13912345678"),
                                              ("call a@b.com4155550199", "4155550199"),
                                              ("ｍｅ＠ｑｑ．ｃｏｍ１３９１２３４５６７８", "13912345678")])
def test_a_number_written_straight_after_an_address_is_masked(text: str, number: str) -> None:
    """A domain ends in a top-level name of letters: the digits after it are a number, not part of the domain
    the masked address keeps."""
    masked = mask_text(text)
    assert survivors(masked, number, number) == [], masked
    assert "***@" in unicodedata.normalize("NFKC", masked), masked


def test_an_address_keeps_its_key_and_its_domain_no_number() -> None:
    """An upper-case IDN address is an address; a value with an at sign is never keyed by its digits alone (two
    people's x@y.com1234567 and z@w.org1234567); a number inside the domain a masked address keeps is masked."""
    assert is_email("ME@EXAMPLE.XN--P1AI") and normalise_contact("ME@EXAMPLE.XN--P1AI") == "me@example.xn--p1ai"
    assert normalise_contact("x@y.com1234567") != normalise_contact("z@w.org1234567")
    assert mask_text("a@b13912345678.com") == "a***@b***.com"
    assert mask_text("a@b.xn--p1ai13912345678") == "a***@b.xn--p1ai139****5678"
    assert mask_text("zhang@126.com") == "z***@126.com"


NOT_PII = [
    "金额 20,000.00 元", "¥1,234.50", "{$1000.00}", "USD 12,345,678.90", "2026-11-16", "2026/11/16 13:45:00",
    "2026-11-16T02:00:00+00:00", "13.5.2026 12:00", "订单号 6222021234567890127", "order 2025550143",
    "ref 123456789", "错误码 E1024", "version 3.8.8", "IP 192.168.100.10", "amounts 250 300 1000",
    "tracking 1Z999AA10123456784", "第 3 笔 共 12 笔", "zip 15206", "订单 202611160001", "110105194912310021",
    "Case 3379500 opened 2019-09-19", "between 10:00 and 18:30", "1,000,000", "50% off 3 items",
    "review c18100564509c364", "run a0f13726097836a3 failed",
]


@pytest.mark.parametrize("text", NOT_PII)
def test_ordinary_numbers_stay(text: str) -> None:
    assert mask_text(text) == text
    assert sum(find_pii(text).values()) == 0


def test_log_records_are_masked_with_their_traceback() -> None:
    """A handler with the masking filter prints neither the message's nor the exception's personal data."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("tests.pii.masking")
    logger.addHandler(handler)
    logger.propagate = False
    install_log_masking("tests.pii.masking")
    try:
        try:
            raise ValueError("duplicate key (contact)=(440306 19851231 1236, +1 415 555 0199)")
        except ValueError:
            logger.exception("insert failed for %s", "１３９１２３４５６７８", stack_info=True)
    finally:
        logger.removeHandler(handler)
    printed = out.getvalue()
    assert "Traceback" in printed and "ValueError: duplicate key" in printed and "Stack (most recent" in printed
    for value in ("440306 19851231 1236", "415 555 0199", "１３９１２３４５６７８", "13912345678"):
        assert value not in printed
    assert "440***********1236" in printed and "139****5678" in printed


@pytest.mark.parametrize(("contact", "masked"), [
    ("2025550143", "20***43"), ("张三@例子.中国", "张三***中国"), ("n/a", "***"),
    ("+1 (202) 555-0143", "202****0143"), ("zhang@example.cn", "z***@example.cn"), ("13912345678", "139****5678"),
])
def test_a_contact_is_always_masked(contact: str, masked: str) -> None:
    assert mask_contact(contact) == masked


@pytest.mark.parametrize("typed", [
    "N/A", "#N/A", "N / A", "n/a.", "(null)", "undefined", "暂无", "无。", "暂无账号", "未填", "-", "0", "000000",
    "xxx", "none@qq.com", "No.Email@163.com", "xxx@xxx.com", "00000000000", "138-0013-8000", "tel:13800138000",
    "手机:13800138000", "138—0013—8000", "13800138000;", "(+86)138 0000 0000", "0755-0000 0000", "138****1234",
    "１３８００１３８０００", "12345678901", "11111111111", "10000000000", "z***@qq.com", "+86 10 0000 0000",
    "0086 755 0000 0000", "138*1234", "138xxxx1234", "138××××1234", "138####1234",
])
def test_what_is_typed_for_no_one_keys_no_one(typed: str) -> None:
    assert no_one(typed) and normalise_contact(typed) is None and contact_key(typed, "k") is None


@pytest.mark.parametrize("real", [
    "13912345678", "+86 139 1234 5678", "13888888888", "010-12345678", "(021) 2345 6789", "88888888", "23456789",
    "+1 212 555 0123", "na@163.com", "nan@example.cn", "li@qq.com", "Zhang.San@Example.cn", "13910000000",
    "186 1000 0000", "010-80000000", "0755-80000000", "+86 10 6000 0000", "x@xiaomi.com", "a*b@example.com",
    "61234567x89",
])
def test_real_contacts_still_key_their_person(real: str) -> None:
    assert not no_one(real) and contact_key(real, "k") is not None


def test_an_account_id_is_no_placeholder_by_its_digits() -> None:
    assert [account_ref(ref) for ref in ("1111111", "1234567", "0001234", " w607075546 ", "N/A", "暂无", "-")] == [
        "1111111", "1234567", "0001234", "W607075546", None, None, None]
