"""A fresh install (no trained model) classifies with the bundled seed model, not keyword rules alone."""

from pathlib import Path

import yaml
from sqlalchemy import func, select

from complaints.core.config import AppConfig, TaxonomyConfig
from complaints.core.db import session_scope
from complaints.core.models import ClassifierModel, Complaint
from complaints.process import classifier
from complaints.process.classifier import SEED_TAG, active_model, seed_examples
from complaints.process.classify import KeywordClassifier, refresh_model
from tests.factories import T0, complaint
from tests.stages import classify_complaints, unprocessed

# Paraphrases written for this test, unlike any line of the seed set: (category, zh, en).
PARAPHRASES = [
    ("account_security", "我根本没付过这笔钱，有人偷偷用了我的账户", "somebody got into my account, paid a stranger"),
    ("fees_pricing", "转个账收了我十块服务费，太坑了", "you took a 10 dollar charge for a simple transfer"),
    ("transfer_delay", "钱提到银行卡上好几天了还没收到", "my cash out to the bank still hasn't shown up"),
    ("refund_after_sales", "商品退回去了，钱一直没给我退", "sent the item back and never got my money returned"),
    ("customer_service", "打了一天客服电话都没人接", "phoned support all day and no one ever answered"),
    ("feature_limit", "一天最多只能转两千，根本不够", "I'm only allowed to send 2000 a day, not enough"),
    ("system_fault", "一点开就闪退，什么也干不了", "the app keeps crashing the moment I open it"),
    ("usability", "新版本太难找功能了，到处乱放", "the new version hides everything, so hard to find things"),
    ("privacy", "注册完就天天有人打电话推销，我的号码被谁拿去了", "strangers call me since I signed up, who sold it"),
    ("compliance", "实名认证传了好几遍身份证都不通过", "my ID check got rejected again after uploading it three times"),
    ("marketing", "说好的返现活动钱一直没给", "the cashback from the promotion never came"),
    ("device_quality", "店里的收款音箱坏了，不报到账了", "the shop's payment speaker broke and stopped announcing"),
]
# In ordinary words, none of them a keyword of taxonomy.yaml: rules alone leave these to `other`.
ORDINARY = [
    ("privacy", "我没同意，你们凭什么把我的联系方式给了合作商家"),
    ("privacy", "why does a loan company know how much money I keep with you"),
    ("feature_limit", "我这个账号怎么不能给家人转钱了"),
    ("feature_limit", "the app won't let me pay rent above a certain amount"),
    ("customer_service", "等了四十分钟都没人接我的电话"),
    ("customer_service", "I keep getting passed from one person to another and nobody helps"),
]


def _classify(db_url: str, taxonomy: TaxonomyConfig, texts: list[str]) -> list[Complaint]:
    with session_scope(db_url) as s:
        rows = [complaint(s, t, contact=f"user{i}@example.com", at=T0) for i, t in enumerate(texts)]
        classify_complaints(s, taxonomy, unprocessed(s, 10_000))
        s.commit()
        return [s.get(Complaint, r.id) for r in rows]


def test_fresh_install_classifies_paraphrases_in_both_languages(db_url: str, app_config: AppConfig) -> None:
    texts = [t for _, zh, en in PARAPHRASES for t in (zh, en)]
    expected = [cat for cat, _, _ in PARAPHRASES for _ in range(2)]
    assert not set(texts) & set(seed_examples().text)
    done = _classify(db_url, app_config.taxonomy, texts)
    assert [c.category for c in done] == expected
    assert {c.category_source for c in done} <= {"model", "rule"}
    assert all(0 < c.category_confidence <= 1 for c in done)


def test_ordinary_words_do_not_fall_to_other(db_url: str, app_config: AppConfig) -> None:
    rules = KeywordClassifier(app_config.taxonomy)
    assert all(rules.classify(t).category == "other" for _, t in ORDINARY)  # what keywords alone would do
    done = _classify(db_url, app_config.taxonomy, [t for _, t in ORDINARY])
    assert [c.category for c in done] == [cat for cat, _ in ORDINARY]


def _reordered(taxonomy: TaxonomyConfig) -> TaxonomyConfig:
    data = taxonomy.model_dump()
    data["categories"] = dict(reversed(list(data["categories"].items())))
    return TaxonomyConfig.model_validate(data)


def test_keyword_tie_does_not_depend_on_category_order(db_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    # One fee keyword and one transfer keyword: a tie that file order used to settle.
    tie = "提现收手续费"
    tax = app_config.taxonomy
    # A copy of the config file with the categories in reverse order reads back reversed.
    copy = tmp_path / "taxonomy.yaml"
    copy.write_text(yaml.safe_dump(_reordered(tax).model_dump(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    reordered = TaxonomyConfig.model_validate(yaml.safe_load(copy.read_text(encoding="utf-8")))
    assert list(reordered.categories) == list(reversed(tax.categories))
    for rules in (KeywordClassifier(tax), KeywordClassifier(reordered)):
        result = rules.classify(tie)
        assert (result.category, result.tied) == ("other", ("fees_pricing", "transfer_delay"))
    # Rules alone (seed model switched off): the fallback at confidence 0, to the review queue, in either order.
    rules_only = {name: t.model_copy(update={"classifier": t.classifier.model_copy(update={"seed_model": False})})
                  for name, t in (("file", tax), ("reversed", reordered))}
    for t in rules_only.values():
        [c] = _classify(db_url, t, [tie])
        assert (c.category, c.category_confidence, c.needs_review) == ("other", 0.0, True)
    # With the seed model: the model decides, the same way in either order.
    [a] = _classify(db_url, tax, [tie])
    [b] = _classify(db_url, reordered, [tie])
    assert a.category == b.category and a.category in ("fees_pricing", "transfer_delay")
    assert a.category_confidence == b.category_confidence


def test_seed_model_is_trained_once_and_reused(db_url: str, app_config: AppConfig) -> None:
    _classify(db_url, app_config.taxonomy, ["提现三天还没到账"])
    with session_scope(db_url) as s:
        [row] = s.execute(select(ClassifierModel)).scalars()
        assert row.data_source.startswith(SEED_TAG)
        assert row.n_train == len(seed_examples(app_config.taxonomy.categories))
        first = (row.version, row.sha256)
    # A second process: nothing of the first in memory, the stored model is read back, not retrained.
    classifier._seed_fits.clear()
    classifier._cache.clear()
    [c] = _classify(db_url, app_config.taxonomy, ["my withdrawal is still pending"])
    assert c.category == "transfer_delay" and c.category_source == "model"
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(ClassifierModel)).scalar_one() == 1
        model = active_model(s)
        assert model is not None and (model.version, model.sha256) == first and model.is_seed
    assert not classifier._seed_fits  # nothing was fitted in the second process


def test_seed_model_self_trains_on_its_confident_classifications(db_url: str, app_config: AppConfig) -> None:
    settings = app_config.taxonomy.classifier.model_copy(update={"self_train_from": 20})
    tax = app_config.taxonomy.model_copy(update={"classifier": settings})
    texts = [t for _, zh, en in PARAPHRASES for t in (zh, en)]
    first = _classify(db_url, tax, texts)  # 24 complaints by the seed model: the stream to learn from
    with session_scope(db_url) as s:
        confident = sum(c.category_confidence >= settings.self_train_confidence for c in first)
        assert s.execute(select(func.count()).select_from(ClassifierModel)).scalar_one() == 1
    assert confident >= 20, "the test needs 20 confident classifications to start self-training"
    second = _classify(db_url, tax, ["提现两天了还没到账"])  # the run's next batch: the same model, not retrained
    confident += sum(c.category_confidence >= settings.self_train_confidence for c in second)
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(ClassifierModel)).scalar_one() == 1
        refresh_model(s, tax)  # the next run's first step: seed set + the confident ones
    with session_scope(db_url) as s:
        model = active_model(s)
        assert model is not None and model.is_seed and model.data_source.endswith(f"+self-{confident}")
        row = s.execute(select(ClassifierModel).where(ClassifierModel.version == model.version)).scalar_one()
        assert row.n_train == len(seed_examples(tax.categories)) + confident
    _classify(db_url, tax, ["my payout is late again"])
    with session_scope(db_url) as s:
        refresh_model(s, tax)  # fewer than twice as many: no retraining
        assert s.execute(select(func.count()).select_from(ClassifierModel)).scalar_one() == 2
