"""Commands for the category model and dedupe quality: train, evaluate, review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from complaints.core.runtime import runtime

app = typer.Typer(no_args_is_help=True)
evaluate_app = typer.Typer(help="Measure classification and dedupe on labelled data.", no_args_is_help=True)
review_app = typer.Typer(help="The needs-review queue of low-confidence categories.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(review_app, name="review")
console = Console(stderr=True)

TextColumn = Annotated[str, typer.Option(help="column holding the complaint text")]
LabelColumn = Annotated[str, typer.Option(help="column holding the label")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


Embeddings = Annotated[bool | None, typer.Option(
    "--embeddings/--no-embeddings", help="sentence-embedding features (default: taxonomy classifier.embeddings)")]


def _params(jieba: bool, c: float, embeddings: bool | None) -> Any:
    from complaints.core.config import load_config
    from complaints.core.settings import get_settings
    from complaints.process.classifier import ModelParams

    if embeddings is None:
        embeddings = load_config(get_settings().config_dir).taxonomy.classifier.embeddings
    return ModelParams(C=c, jieba=jieba, embeddings=embeddings)


@app.command()
def train(
    data: Annotated[Path | None, typer.Option(help="labelled CSV or JSONL file", exists=True, dir_okay=False)] = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    include_reviews: Annotated[bool, typer.Option(help="add the reviewers' confirmations and corrections")] = False,
    jieba: Annotated[bool, typer.Option(help="jieba words for Chinese (character n-grams are always used)")] = False,
    c: Annotated[float, typer.Option("--c", help="SVM regularisation C")] = 0.5,
    embeddings: Embeddings = None,
    seed: Annotated[bool, typer.Option(help="train on top of the bundled seed set (complaints/process/seed)")]
    = True,
) -> None:
    """Train the category model and store it as the next version; the process flow uses the newest.
    The bundled seed set is part of the training data unless --no-seed: history and reviews add to it."""
    import pandas as pd

    from complaints.core.db import session_scope
    from complaints.process.classifier import read_labelled, review_examples, seed_examples, seed_tag, train_and_store

    if data is None and not include_reviews:
        raise typer.BadParameter("give --data, --include-reviews or both")
    frames, sources = [], []
    if seed:
        seeded = seed_examples(runtime().config.taxonomy.categories)
        frames.append(seeded[["text", "label"]])
        sources.append(seed_tag(seeded))
    if data is not None:
        frames.append(read_labelled(data, text_column, label_column)[["text", "label"]])
        sources.append(str(data))
    with session_scope(runtime().db_url) as session:
        if include_reviews:
            reviews = review_examples(session)
            frames.append(reviews)
            sources.append(f"reviews ({len(reviews)})")
        frame = pd.concat(frames, ignore_index=True)
        with console.status(f"training on {len(frame)} rows ..."):
            row = train_and_store(session, frame.text.tolist(), frame.label.tolist(),
                                  data_source=" + ".join(sources), params=_params(jieba, c, embeddings))
        out = {"version": row.version, "n_train": row.n_train, "labels": len(row.labels),
               **{k: v for k, v in row.metrics.items() if k != "label_counts"}}
    typer.echo(json.dumps(out, ensure_ascii=False))


@evaluate_app.command("classify")
def evaluate_classify(
    train: Annotated[Path, typer.Option(help="labelled CSV or JSONL to train on (or the single file to split)",
                                        exists=True, dir_okay=False)],
    test: Annotated[Path | None, typer.Option(help="labelled file to score; omit to split --train", exists=True,
                                              dir_okay=False)] = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    split_column: Annotated[str | None, typer.Option(help="split --train by this column (train/test values)")] = None,
    test_fraction: Annotated[float, typer.Option(help="random test share when neither --test nor --split-column")]
    = 0.25,
    baselines: Annotated[bool, typer.Option(help="also score majority-class and label-keyword baselines")] = False,
    jieba: Annotated[bool, typer.Option(help="jieba words for Chinese")] = False,
    c: Annotated[float, typer.Option("--c", help="SVM regularisation C")] = 0.5,
    embeddings: Embeddings = None,
    as_json: AsJson = False,
) -> None:
    """Train a fresh model on --train exactly as `complaints train` does and score it on --test."""
    from complaints.evaluation.classify import evaluate, split
    from complaints.process.classifier import read_labelled

    frame = read_labelled(train, text_column, label_column)
    if test is not None:
        train_frame, test_frame = frame, read_labelled(test, text_column, label_column)
    else:
        train_frame, test_frame = split(frame, split_column=split_column, test_fraction=test_fraction)
    with console.status(f"training on {len(train_frame)} rows ..."):
        result = evaluate(train_frame, test_frame, _params(jieba, c, embeddings), baselines=baselines)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(f"n_train {result['n_train']}  n_test {result['n_test']}  labels {result['n_labels']}")
    typer.echo(f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}")
    for name, b in result.get("baselines", {}).items():
        typer.echo(f"baseline {name}: accuracy {b['accuracy']:.4f}  macro-F1 {b['macro_f1']:.4f}")
    table = Table(title="per class")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col)
    for label, m in sorted(result["per_class"].items(), key=lambda kv: kv[1]["f1"]):
        table.add_row(label, *(str(m[k]) for k in ("precision", "recall", "f1", "support")))
    Console().print(table)
    typer.echo("most confused (true -> predicted: count):")
    for conf in result["confusions"]:
        typer.echo(f"  {conf['true']} -> {conf['predicted']}: {conf['count']}")


@evaluate_app.command("classifier")
def evaluate_classifier(
    shared_data: Annotated[Path, typer.Option(help="folder of the public data sets (cfpb/, banking77/)")]
    = Path("../shared/data"),
    data: Annotated[list[Path] | None, typer.Option(help="more labelled CSV/JSONL files in taxonomy categories",
                                                    exists=True, dir_okay=False)] = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    as_json: AsJson = False,
) -> None:
    """A fresh install's classification on data written independently of this codebase: the seed model and
    keyword rules alone, on our held-out set, the mapped CFPB narratives and BANKING77 intents, and --data."""
    from complaints.evaluation.classify import cold_start, load_banking77, load_cfpb, load_heldout
    from complaints.process.classifier import read_labelled

    datasets = {"heldout": load_heldout()}
    for name, path, load in (("cfpb", shared_data / "cfpb" / "complaints_sample.csv", load_cfpb),
                             ("banking77", shared_data / "banking77" / "queries.csv", load_banking77)):
        if path.exists():
            datasets[name] = load(path)
        else:
            console.print(f"[yellow]{path} not found: {name} skipped[/yellow]")
    for path in data or []:
        datasets[path.stem] = read_labelled(path, text_column, label_column)
    with console.status("training the seed model and classifying ..."):
        result = cold_start(datasets, runtime().config.taxonomy)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    table = Table(title="fresh install (no trained model): seed model vs keyword rules alone")
    for col in ("data", "classifier", "n", "accuracy", "macro-F1", "other", "to review", "acc. not reviewed",
                "mean conf.", "calib. error"):
        table.add_column(col)
    for name, by in result.items():
        for which, f in by.items():
            table.add_row(name, which, str(f["n"]), f"{f['accuracy']:.3f}", f"{f['macro_f1']:.3f}",
                          f"{f['other_share']:.1%}", f"{f['review_share']:.1%}",
                          "-" if f["accuracy_not_reviewed"] is None else f"{f['accuracy_not_reviewed']:.3f}",
                          f"{f['mean_confidence']:.3f}", f"{f.get('calibration_error', 0):.3f}")
    Console(width=160).print(table)


@evaluate_app.command("dedupe")
def evaluate_dedupe_cmd(
    pairs: Annotated[list[Path] | None, typer.Option(help="sentence-pair CSVs (sentence1, sentence2, label)",
                                                     exists=True, dir_okay=False)] = None,
    cfpb: Annotated[Path | None, typer.Option(help="a CFPB export: every row another consumer", exists=True,
                                              dir_okay=False, resolve_path=True)] = None,
    n: Annotated[int, typer.Option(help="synthetic complaints for the injected-resubmission test")] = 5000,
    refit: Annotated[bool, typer.Option(help="refit the shipped pair model on the train halves of --pairs")] = False,
    intents: Annotated[Path | None, typer.Option(help="with --refit: an intent-labelled query CSV (text, category; "
                                                      "BANKING77) for English pairs", exists=True,
                                                 dir_okay=False)] = None,
    as_json: AsJson = False,
) -> None:
    """Duplicate-link precision/recall on injected resubmissions; on --pairs (dev halves) the pair model at its
    threshold against TF-IDF char 1-3 cosine and rapidfuzz ratio; on --cfpb the share marked duplicates."""
    from complaints.evaluation.dedupe import evaluate_cfpb, evaluate_injected, evaluate_pairs, fit_pair_model
    from complaints.process.pairs import MODEL_PATH, shipped_model

    config = runtime().config
    cfg = config.taxonomy.dedupe
    if refit:
        if not pairs:
            raise typer.BadParameter("--refit needs --pairs")
        with console.status("fitting the pair model ..."):
            fit_pair_model(pairs, intents).save(MODEL_PATH)
        shipped_model.cache_clear()
        console.print(f"pair model written to {MODEL_PATH}")
    result: dict[str, Any] = {"injected": evaluate_injected(cfg, n=n)}
    for path in pairs or []:
        result[path.parent.name or path.stem] = evaluate_pairs(path, cfg)
    if cfpb is not None:
        result["cfpb"] = evaluate_cfpb(cfpb, config)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for name, figures in result.items():
        flat = {k: v for k, v in figures.items() if not isinstance(v, dict)}
        typer.echo(f"{name}: " + "  ".join(f"{k} {v}" for k, v in flat.items()))
        for method, m in ((k, v) for k, v in figures.items() if isinstance(v, dict)):
            typer.echo(f"  {method:<18} " + "  ".join(f"{k} {v}" for k, v in m.items()))


@review_app.command("list")
def review_list(limit: Annotated[int, typer.Option()] = 50) -> None:
    """Complaints whose category confidence is below the threshold (text masked)."""
    from complaints.core.db import session_scope
    from complaints.core.pii import mask_text
    from complaints.process.review import pending

    table = Table(title="needs review")
    for col in ("id", "received", "channel", "category", "confidence", "source", "text"):
        table.add_column(col, overflow="fold")
    with session_scope(runtime().db_url) as session:
        for c in pending(session, limit):
            table.add_row(str(c.id), c.received_at.isoformat(timespec="minutes"), c.channel, c.category or "",
                          f"{c.category_confidence or 0:.2f}", c.category_source or "", mask_text(c.body)[:160])
    Console().print(table)


def _decide(complaint_id: int, category: str | None, reviewer: str | None) -> None:
    from complaints.core.db import session_scope
    from complaints.process.review import decide

    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            review = decide(session, rt.config.taxonomy, complaint_id, category, reviewer)
            typer.echo(f"complaint {complaint_id}: {review.action} {review.category}")
    except (LookupError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@review_app.command("confirm")
def review_confirm(complaint_id: int, reviewer: Annotated[str | None, typer.Option()] = None) -> None:
    """The current category is right."""
    _decide(complaint_id, None, reviewer)


@review_app.command("correct")
def review_correct(complaint_id: int, category: str, reviewer: Annotated[str | None, typer.Option()] = None) -> None:
    """Set the right category (a taxonomy key); the next `train --include-reviews` learns it."""
    _decide(complaint_id, category, reviewer)
