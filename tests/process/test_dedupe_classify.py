"""Dedupe cases, the trainable classifier with versions, the review loop, evaluation output and severity reasons."""

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.model import app as model_cli
from complaints.core import runtime
from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import CategoryReview, ClassifierModel, Complaint, ComplaintSimilarity, DuplicateLink
from complaints.process.classifier import active_model, review_examples, train_and_store
from complaints.process.review import decide, pending
from complaints.process.severity import assess
from tests.factories import T0, complaint
from tests.stages import classify_complaints, dedupe, unprocessed

WITHDRAW = "提现一直未到账，已经三天了，错误码E1024，请尽快处理"
POST = "【吐槽】某某钱包提现三天不到账，客服也联系不上，大家有没有遇到同样的问题？#提现# #钱包#"

# Small labelled history: 3 labels, 8 phrasings each (enough for calibrated confidence).
HISTORY = {
    "transfer_delay": ["withdrawal still pending after three days", "my transfer has not arrived yet",
                       "提现一直没到账", "money sent to my bank not received", "转账显示处理中好几天",
                       "the payout is delayed again", "bank transfer stuck in pending", "提现到银行卡迟迟不到"],
    "fees_pricing": ["you charged me a hidden fee", "why is there a service fee on this payment", "手续费太高了",
                     "unexpected fee on my statement", "提现收取服务费不合理", "the exchange fee is too high",
                     "多扣了手续费", "fee charged twice for one top up"],
    "customer_service": ["the agent was rude and hung up", "nobody answers the support phone", "客服态度很差",
                         "support never replies to my emails", "人工客服一直排队", "chat support closed my ticket",
                         "客服推诿不处理", "waited two hours for an agent"],
}


def _history() -> tuple[list[str], list[str]]:
    pairs = [(t, label) for label, texts in HISTORY.items() for t in texts]
    return [t for t, _ in pairs], [label for _, label in pairs]


def run(session, cfg: AppConfig):  # the process flow's dedupe and classify stages, in its order
    batch = unprocessed(session, 10_000)
    d = dedupe(session, batch, cfg.taxonomy.dedupe)
    c = classify_complaints(session, cfg.taxonomy, batch)
    session.commit()
    return d, c


def _links(session) -> set[tuple[int, int, str]]:
    return {(lk.complaint_id, lk.canonical_id, lk.method) for lk in session.execute(select(DuplicateLink)).scalars()}


def _similar(session) -> set[tuple[int, int]]:
    return {(r.complaint_id, r.similar_id) for r in session.execute(select(ComplaintSimilarity)).scalars()}


# --- dedupe -----------------------------------------------------------------------------------


def test_keyed_exact_and_near_across_channels_and_punctuation(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        first = complaint(s, WITHDRAW, contact="13812345678", channel="app")
        # Full-width letters/digits, English punctuation instead of Chinese: exact once normalised.
        exact = complaint(s, "提现一直未到账, 已经三天了. 错误码Ｅ１０２４! 请尽快处理", contact="+86 138-1234-5678",
                          channel="hotline", at=T0 + timedelta(hours=5))
        near = complaint(s, "提现一直未到账，已经四天了，错误码E1024，请尽快处理！！", contact="13812345678",
                         channel="regulator", at=T0 + timedelta(days=2))
        d, _ = run(s, app_config)
        assert (d.exact, d.near, d.keyless) == (1, 1, 0)
        # The same error code from the same person in the window: the same problem.
        assert _links(s) == {(exact.id, first.id, "exact"), (near.id, first.id, "signature")}
        assert first.channels == ["app", "hotline", "regulator"] and first.last_seen_at == T0 + timedelta(days=2)
        assert near.category == first.category and near.severity == first.severity


def test_keyed_not_duplicates(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        complaint(s, WITHDRAW, contact="a@example.com")
        complaint(s, WITHDRAW, contact="b@example.com")  # other user, same words: collective, not a duplicate
        complaint(s, "客服态度很差，电话打不通", contact="a@example.com", at=T0 + timedelta(hours=1))  # other problem
        complaint(s, WITHDRAW, contact="a@example.com", at=T0 + timedelta(days=9))  # outside the 7-day window
        d, _ = run(s, app_config)
        assert (d.exact, d.near, d.keyless) == (0, 0, 0)


def test_keyless_repost_is_similar_only_in_same_source_and_window(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        post = complaint(s, POST, channel="social", source="weibo")
        repost = complaint(s, POST.replace("？", "?").replace("【", "[").replace("】", "]") + "!!",
                           channel="social", source="weibo", at=T0 + timedelta(hours=3))
        other_source = complaint(s, POST, channel="social", source="douyin", at=T0 + timedelta(hours=1))
        late = complaint(s, POST + "。", channel="social", source="weibo", at=T0 + timedelta(days=4))
        different = complaint(s, "某某钱包的红包活动规则太复杂了，根本看不懂，大家怎么领的？#红包#",
                              channel="social", source="weibo", at=T0 + timedelta(hours=2))
        # A keyed complaint with the same words is never matched against anonymous posts.
        keyed = complaint(s, POST, contact="c@example.com", channel="app", at=T0 + timedelta(hours=1))
        d, _ = run(s, app_config)
        # Nothing shows one person wrote both: similar (visible), not a duplicate.
        assert (d.exact, d.near, d.keyless, d.similar) == (0, 0, 0, 1) and _links(s) == set()
        assert _similar(s) == {(repost.id, post.id)}
        assert all(c.duplicate_of_id is None for c in (repost, other_source, late, different, keyed))
    with session_scope(db_url) as s:  # incremental: a later batch matches against stored canonical posts
        again = complaint(s, POST + " 顶", channel="social", source="weibo", at=T0 + timedelta(hours=20))
        d, _ = run(s, app_config)
        assert d.similar == 1 and {(again.id, post.id), (again.id, repost.id)} & _similar(s)
        assert s.get(Complaint, again.id).duplicate_of_id is None


# --- classification, versions, review ---------------------------------------------------------


def test_cold_start_seed_model_then_newest_model_version(db_url: str, app_config: AppConfig) -> None:
    texts, labels = _history()
    with session_scope(db_url) as s:
        cold = complaint(s, "提现手续费太贵")
        run(s, app_config)  # no trained model: the seed model (version 1) classifies
        assert (cold.category, cold.category_source) == ("fees_pricing", "model")
        v1 = train_and_store(s, texts, labels, data_source="history.csv")
        # Version 2 learns swapped labels: the process flow must use it, not version 1.
        swap = {"transfer_delay": "fees_pricing", "fees_pricing": "transfer_delay",
                "customer_service": "customer_service"}
        v2 = train_and_store(s, texts, [swap[y] for y in labels], data_source="history-v2.csv")
        assert (v1.version, v2.version) == (2, 3) and v2.labels == sorted(HISTORY)
        assert s.execute(select(func.count()).select_from(ClassifierModel)).scalar_one() == 3
        model = active_model(s)
        assert model is not None and model.version == 3
        delayed = complaint(s, "my withdrawal has been pending for days and has not arrived", at=T0 + timedelta(1))
        # Fraud keywords override the model (account_security has rule_overrides: true).
        fraud = complaint(s, "someone made an unauthorized transfer, my account was hacked", at=T0 + timedelta(1))
        run(s, app_config)
        assert (delayed.category, delayed.category_source) == ("fees_pricing", "model")
        assert 0 < delayed.category_confidence <= 1
        assert (fraud.category, fraud.category_source, fraud.severity) == ("account_security", "rule", "critical")


def test_review_queue_correction_feeds_next_training(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        unclear = complaint(s, "同上", contact="u@example.com")  # "same as above": says nothing of the problem
        clear = complaint(s, "客服态度很差，电话打不通")
        dup = complaint(s, "同上!!", contact="u@example.com", at=T0 + timedelta(hours=1))
        run(s, app_config)
        assert unclear.needs_review and not clear.needs_review
        # Its resubmission is not listed: it is reviewed with its canonical complaint.
        assert dup.duplicate_of_id == unclear.id and [c.id for c in pending(s)] == [unclear.id]
        review = decide(s, app_config.taxonomy, unclear.id, "customer_service", reviewer="ops1")
        decide(s, app_config.taxonomy, clear.id)
        assert review.action == "correct" and review.previous_category not in (None, "customer_service")
        assert (unclear.category, unclear.category_source) == ("customer_service", "review")
        assert not unclear.needs_review
        assert dup.category == "customer_service"
        assert pending(s) == []
        examples = review_examples(s)
        assert sorted(zip(examples.label, examples.text, strict=True)) == [
            ("customer_service", "同上"), ("customer_service", "客服态度很差,电话打不通")]
        texts, labels = _history()
        row = train_and_store(s, texts + examples.text.tolist(), labels + examples.label.tolist(),
                              data_source="history + reviews", evaluate=False)
        assert row.metrics["label_counts"]["customer_service"] == 10
        assert s.execute(select(func.count()).select_from(CategoryReview)).scalar_one() == 2


def test_unmapped_model_label_goes_to_review(db_url: str, app_config: AppConfig) -> None:
    texts, labels = _history()
    foreign = {"transfer_delay": "pending_transfer", "fees_pricing": "card_fee", "customer_service": "support"}
    cfg = app_config.taxonomy.model_copy(update={"classifier": app_config.taxonomy.classifier.model_copy(
        update={"label_map": {"pending_transfer": "transfer_delay"}})})
    with session_scope(db_url) as s:
        train_and_store(s, texts, [foreign[y] for y in labels], data_source="banking77-like", evaluate=False)
        mapped = complaint(s, "bank transfer still pending, not received")
        unknown = complaint(s, "why is there a fee on my statement")
        batch = unprocessed(s, 100)
        classify_complaints(s, cfg, batch)
        assert (mapped.category, mapped.category_source) == ("transfer_delay", "model")
        assert (unknown.category, unknown.category_confidence, unknown.needs_review) == ("other", 0.0, True)


def test_evaluate_classify_command_keys(tmp_path: Path) -> None:
    texts, labels = _history()
    train = tmp_path / "train.csv"
    train.write_text("body,issue\n" + "\n".join(f'"{t}",{y}' for t, y in zip(texts, labels, strict=True)),
                     encoding="utf-8")
    test = tmp_path / "test.jsonl"
    test.write_text("\n".join(json.dumps({"body": t, "issue": y}, ensure_ascii=False) for t, y in [
        ("my transfer is still pending", "transfer_delay"), ("客服不回复", "customer_service"),
        ("hidden fee charged", "fees_pricing")]), encoding="utf-8")
    result = CliRunner().invoke(model_cli, ["evaluate", "classify", "--train", str(train), "--test", str(test),
                                            "--text-column", "body", "--label-column", "issue", "--json",
                                            "--baselines"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "per_class", "confusions", "n_train", "n_test"} <= out.keys()
    assert (out["n_train"], out["n_test"]) == (24, 3)
    assert set(out["per_class"]) == set(HISTORY) and {"precision", "recall"} <= out["per_class"]["fees_pricing"].keys()
    assert out["baselines"]["majority_class"]["accuracy"] <= out["accuracy"]


def test_evaluate_dedupe_reads_a_cfpb_export_named_relative_to_where_it_runs(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    header = ("Date received,Product,Sub-product,Issue,Sub-issue,Consumer complaint narrative,Company public response,"
              "Company,State,ZIP code,Tags,Consumer consent provided?,Submitted via,Date sent to company,"
              "Company response to consumer,Timely response?,Consumer disputed?,Complaint ID")
    rows = [f'2019-09-0{i},"Money transfer, virtual currency, or money service",Mobile or digital wallet,'
            f'Fraud or scam,,"My transfer of {{$1{i}0.00}} never arrived and support did not help.",,ACME PAY,CA,'
            f'9000{i},,Consent provided,Web,2019-09-0{i},Closed with explanation,Yes,N/A,31000{i}' for i in range(1, 4)]
    (tmp_path / "export.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # Its scratch settings: never the checkout's own var/complaints.db (left at a test's schema, it broke later runs).
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("COMPLAINTS_DATABASE_URL", raising=False)
    runtime.reset()
    try:
        result = CliRunner().invoke(model_cli, ["evaluate", "dedupe", "--n", "50", "--cfpb", "export.csv", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["cfpb"] | {"similar": 0} == {"complaints": 3, "duplicates": 0,
                                                                     "duplicate_rate": 0.0, "similar": 0}
        missing = CliRunner().invoke(model_cli, ["evaluate", "dedupe", "--cfpb", "nosuch.csv"])
        assert missing.exit_code == 2 and "does not exist" in missing.output
    finally:
        runtime.reset()


# --- severity ---------------------------------------------------------------------------------


def test_severity_reasons_cover_every_rule(app_config: AppConfig) -> None:
    rules = app_config.taxonomy.severity
    level, reasons = assess(rules, text="老人的救命钱被转走了，我要去媒体曝光，并打12363投诉",
                            category="transfer_delay", channel="regulator", amount=Decimal("2000"), repeat_count=3)
    assert level == "major"
    assert reasons[0] == "amount 2000 >= 1000" and "regulator-referred (regulator)" in reasons
    assert any(r.startswith("threat to escalate:") and "12363" in r and "曝光" in r for r in reasons)
    assert any(r.startswith("vulnerable user:") and "老人" in r for r in reasons)
    assert "repeat complaint (3 submissions)" in reasons
    assert assess(rules, text="scam", category="account_security", channel="app", amount=None) == (
        "critical", ["category account_security"])
    assert assess(rules, text="the app is slow", category="usability", channel="app", amount=Decimal("5")) == (
        "minor", [])
