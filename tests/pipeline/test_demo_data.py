"""The bundled demo data: reproducible from its generator, and it contains what demo/README.md promises."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from complaints.core.config import AppConfig
from complaints.core.pii import find_pii
from complaints.core.records import RawRecord
from complaints.core.settings import PROJECT_ROOT
from complaints.ingest.sources import FileConnector, Window

DEMO = PROJECT_ROOT / "demo"
GENERATED = [
    "app_feedback/app_feedback_2026-11-16.jsonl",
    "hotline/hotline_2026-11-16.csv",
    "regulator/cfpb_referrals_2026-11.csv",
    "README.md",
]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_generator_is_deterministic_and_demo_is_up_to_date(tmp_path: Path) -> None:
    for out in (tmp_path / "one", tmp_path / "two"):
        subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "scripts" / "generate_demo_data.py"), "--out", str(out)],
            check=True,
            capture_output=True,
        )
    for rel in GENERATED:
        first = (tmp_path / "one" / rel).read_bytes()
        assert first == (tmp_path / "two" / rel).read_bytes(), rel
        assert first == (DEMO / rel).read_bytes(), f"{rel} is stale: run scripts/generate_demo_data.py"
    assert sum((DEMO / rel).stat().st_size for rel in GENERATED) < 200_000


@pytest.fixture(scope="module")
def demo(app_config: AppConfig) -> dict[str, list[RawRecord]]:
    out: dict[str, list[RawRecord]] = {}
    for name in ("app_feedback", "hotline", "regulator"):
        connector = FileConnector(app_config.source(name), app_config.directory)  # type: ignore[arg-type]
        out[name] = [r for b in connector.batches({}, Window()) for r in b.records if not r.error]
    return out


def texts(demo: dict[str, list[RawRecord]]) -> list[str]:
    app = [f"{r.data['title'] or ''} {r.data['content']}" for r in demo["app_feedback"]]
    hotline = [r.data["问题描述"] for r in demo["hotline"]]
    regulator = [f"{r.data['Issue']} {r.data['Consumer complaint narrative']}" for r in demo["regulator"]]
    return app + hotline + regulator


def test_every_category_is_found_by_its_keywords(app_config: AppConfig, demo: dict[str, list[RawRecord]]) -> None:
    taxonomy = app_config.taxonomy
    found: Counter[str] = Counter()
    for text in texts(demo):
        folded = unicodedata.normalize("NFKC", text).lower()
        hits = {
            name: sum(kw.lower() in folded for kw in cat.keywords.zh + cat.keywords.en)
            for name, cat in taxonomy.categories.items()
        }
        best = max(hits.values())
        found[next(n for n, h in hits.items() if h == best) if best else taxonomy.fallback] += 1
    assert set(found) == set(taxonomy.categories)
    assert min(found.values()) >= 3


def test_mix_of_languages_and_week(demo: dict[str, list[RawRecord]]) -> None:
    all_texts = texts(demo)
    chinese = sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in all_texts)
    assert len(all_texts) * 0.6 < chinese < len(all_texts)
    week = (datetime(2026, 11, 16, tzinfo=SHANGHAI), datetime(2026, 11, 22, 23, 59, tzinfo=SHANGHAI))
    app_times = [r.data["submitted_at"] for r in demo["app_feedback"]]
    assert app_times.count("昨天下午") == 1
    assert all(week[0] <= datetime.fromisoformat(t) <= week[1] for t in app_times if t != "昨天下午")
    assert all(t.endswith("+08:00") for t in app_times if t != "昨天下午")
    hotline_times = [r.data["来电时间"] for r in demo["hotline"] if r.data["来电时间"] != "昨天下午"]
    assert len(hotline_times) == len(demo["hotline"]) - 1
    assert all(
        week[0] <= datetime.strptime(t, "%Y/%m/%d %H:%M").replace(tzinfo=SHANGHAI) <= week[1] for t in hotline_times
    )


def test_burst_fee_wave_and_resubmissions(demo: dict[str, list[RawRecord]]) -> None:
    def when(value: str) -> datetime:
        if "T" in value:
            return datetime.fromisoformat(value)
        return datetime.strptime(value, "%Y/%m/%d %H:%M").replace(tzinfo=SHANGHAI)

    start = datetime(2026, 11, 19, 9, 30, tzinfo=SHANGHAI)
    window = (start, start + timedelta(hours=6))
    app = [r.data for r in demo["app_feedback"] if r.data["merchant"] == "快捷支付通道"]
    calls = [r.data for r in demo["hotline"] if r.data["商户名称"] == "快捷支付通道"]
    app_users = {d["user_id"] for d in app if window[0] <= when(d["submitted_at"]) <= window[1]}
    callers = {d["联系电话"] for d in calls if window[0] <= when(d["来电时间"]) <= window[1]}
    assert (len(app_users), len(callers)) == (30, 14)
    assert sum("E1024" in d["content"] for d in app) + sum("E1024" in d["问题描述"] for d in calls) >= 10

    fee = [r.data for r in demo["app_feedback"] if r.data["merchant"] == "乐购优选商城"]
    fee += [r.data for r in demo["hotline"] if r.data["商户名称"] == "乐购优选商城"]
    assert len(fee) == 15
    assert {when(d.get("submitted_at") or d.get("来电时间") or "").date().isoformat() for d in fee} == {"2026-11-17"}

    # Cross-channel: the same email (any case) or customer number turns up in the app and at the hotline.
    app_keys = {k for r in demo["app_feedback"] for k in (r.data["user_id"], (r.data["email"] or "").lower()) if k}
    hotline_keys = {k for r in demo["hotline"] for k in (r.data["客户编号"], (r.data["联系邮箱"] or "").lower()) if k}
    linked = [r for r in demo["hotline"] if {r.data["客户编号"], (r.data["联系邮箱"] or "").lower()} & app_keys]
    assert len(linked) == 26
    assert len(app_keys & hotline_keys) >= 26


def test_personal_data_hostile_text_and_escalations(demo: dict[str, list[RawRecord]]) -> None:
    all_texts = texts(demo)
    pii: Counter[str] = Counter()
    for text in all_texts:
        pii.update({k: v for k, v in find_pii(text).items() if v})
    assert pii == {"phone": 3, "id_number": 2, "bank_card": 2, "email": 1}
    joined = "\n".join(all_texts) + "\n".join(r.data["title"] or "" for r in demo["app_feedback"])
    for hostile in ("<script>alert(1)</script>", "<img src=http://127.0.0.1:9/x>", "{{ 7*7 }}", "\r\n"):
        assert hostile in joined
    for threat in ("曝光", "12363", "起诉", "人民银行", "lawyer", "CFPB"):
        assert threat in joined
    emails = [r.data["email"] for r in demo["app_feedback"]]
    assert sum(e is not None for e in emails) > 0.8 * len(emails)
    assert all(
        e.split("@")[1].lower().rstrip(".").endswith(("example.com", "example.cn", "example.org", "example.net"))
        for e in emails
        if e
    )
