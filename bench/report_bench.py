"""Weekly report benchmark: render both PDFs (zh and en) for a week with N complaints and 10 incidents.

Seeds a scratch database (SQLite file, or PostgreSQL with --pg) with bulk inserts, then times the data
gathering and the rendering separately. Usage: .venv/bin/python -m bench.report_bench [--n 100000] [--pg]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from complaints.core.config import load_config
from complaints.core.db import migrate, scratch_database, session_scope
from complaints.core.models import Complaint, Incident
from complaints.core.normalize import text_hash
from complaints.core.settings import PROJECT_ROOT, Settings
from complaints.plans.create import create_plans
from complaints.reports import render_weekly_reports, weekly_report_data

WEEK, START = "2026-W47", datetime(2026, 11, 15, 16, 0, tzinfo=UTC)  # Monday 00:00 Asia/Shanghai
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEXTS = ["提现一直未到账，已经三天了，联系电话13812345678", "手续费多扣了，之前没有告知", "账户被盗刷，不是我本人操作",
         "My withdrawal has been pending for a week", "客服电话打不通", "App闪退，错误码E1024", "退款一直没有退回"]
CATEGORIES = ["transfer_delay", "fees_pricing", "account_security", "transfer_delay", "customer_service",
              "system_fault", "refund_after_sales"]


def seed(url: str, n: int, incidents: int = 10) -> None:
    rng = random.Random(5)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        k = rng.randrange(len(TEXTS))
        at = START + timedelta(seconds=rng.randrange(7 * 86400))
        rows.append({
            "source": "bench", "external_id": f"R{i}", "received_at": at, "channel": rng.choice(["app", "hotline"]),
            "customer_ref": f"U{rng.randrange(n // 2)}", "body": f"{TEXTS[k]} #{i}", "text_hash": text_hash(f"{i}"),
            "language": "en" if k == 3 else "zh", "category": CATEGORIES[k],
            "severity": rng.choice(["minor", "major", "critical"]), "severity_reasons": [], "status": "classified",
            "raw": {}, "channels": ["app"], "first_seen_at": at, "last_seen_at": at, "processed_at": at,
            "created_at": at, "updated_at": at, "merchant": rng.choice(["快捷支付通道", "乐购优选商城", None]),
            "amount": Decimal(rng.randrange(1, 20000)),
        })
    with session_scope(url) as s:
        for start in range(0, n, 10_000):
            s.execute(insert(Complaint), rows[start : start + 10_000])
        for j in range(incidents):
            at = START + timedelta(hours=12 * j + 3)
            inc = Incident(signature=f"category=transfer_delay|merchant=M{j}", opened_window=at,
                           category="transfer_delay",
                           title=f"转账提现延迟 · Transfer and withdrawal delays — M{j}", severity="P2", status="open",
                           detected_at=at, first_complaint_at=at, last_complaint_at=at + timedelta(hours=6),
                           user_count=150, complaint_count=150, reason={"observed_users": 150}, history=[])
            s.add(inc)
            s.flush()
            members = [f"R{x}" for x in range(j * 150, j * 150 + 150)]
            s.execute(update(Complaint).where(Complaint.external_id.in_(members)).values(incident_id=inc.id))
        create_plans(s, load_config(PROJECT_ROOT / "config"), START + timedelta(days=7))


def run(url: str, n: int, var: Path) -> dict[str, float]:
    migrate(url)
    t0 = time.perf_counter()
    seed(url, n)
    seeded = time.perf_counter() - t0
    cfg = load_config(PROJECT_ROOT / "config")
    settings = Settings(var_dir=var, database_url=url)
    with session_scope(url) as s:
        t0 = time.perf_counter()
        weekly_report_data(s, cfg, WEEK, settings.timezone)
        gather = time.perf_counter() - t0
        t0 = time.perf_counter()
        reports = render_weekly_reports(s, cfg, settings, WEEK, ("zh", "en"))
        total = time.perf_counter() - t0
    pages = sum(r.summary.get("pages", 0) for r in reports)
    return {"seed_s": round(seeded, 1), "gather_s": round(gather, 2), "render_all_s": round(total, 1), "pages": pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.pg:
            result = run(f"sqlite:///{tmp}/bench.db", args.n, Path(tmp) / "var")
        else:
            with scratch_database(PG_ADMIN, "bench") as url:
                result = run(url, args.n, Path(tmp) / "var")
    backend = "postgresql" if args.pg else "sqlite"
    print(f"{args.n:,} complaints, 10 incidents, {backend}: data {result['gather_s']} s; "
          f"4 PDFs (crisis+lessons, zh+en, {result['pages']} pages) in {result['render_all_s']} s "
          f"(seeding took {result['seed_s']} s)")


if __name__ == "__main__":
    main()
