from pathlib import Path

import pytest

from complaints.core.config import ConfigError, load_config
from complaints.core.settings import PROJECT_ROOT


def copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    target.mkdir()
    for f in (PROJECT_ROOT / "config").glob("*.yaml"):
        (target / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def test_shipped_config_loads() -> None:
    cfg = load_config(PROJECT_ROOT / "config")
    assert set(cfg.taxonomy.categories) == {
        "account_security", "fees_pricing", "transfer_delay", "refund_after_sales", "customer_service",
        "feature_limit", "system_fault", "usability", "privacy", "compliance", "marketing", "device_quality", "other",
    }
    assert all(c.label_zh and c.label_en for c in cfg.taxonomy.categories.values())
    assert {s.name for s in cfg.sources.sources} == {"app_feedback", "hotline", "regulator"}
    assert cfg.source("hotline").mapping["contact"] == "联系邮箱|联系电话"


def test_error_names_file_field_and_problem(tmp_path: Path) -> None:
    d = copy_config(tmp_path)
    text = (d / "sources.yaml").read_text(encoding="utf-8")
    (d / "sources.yaml").write_text(text.replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus", 1), "utf-8")
    (d / "detection.yaml").write_text("window_hours: -3\nmin_distinct_users: 10\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(d)
    message = str(err.value)
    assert f"{d / 'sources.yaml'}" in message and "sources.0.file.timezone" in message and "Mars/Olympus" in message
    assert f"{d / 'detection.yaml'}" in message and "field window_hours" in message and "greater than" in message


def test_cross_file_references_are_checked(tmp_path: Path) -> None:
    d = copy_config(tmp_path)
    with (d / "routing.yaml").open("a", encoding="utf-8") as fh:
        fh.write("  - {category: crypto_mining, team: risk}\n")
    with pytest.raises(ConfigError, match=r"routing.yaml: field routes.8.category: unknown category 'crypto_mining'"):
        load_config(d)


def test_unknown_team_and_bad_yaml(tmp_path: Path) -> None:
    d = copy_config(tmp_path)
    (d / "routing.yaml").write_text("default_team: nobody\nteams: {a: {members: [x], lead: y}}\n", "utf-8")
    (d / "plans.yaml").write_text("templates: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(d)
    assert "unknown team(s) ['nobody']" in str(err.value)
    assert "plans.yaml: not valid YAML" in str(err.value)


def test_sqlite_url_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    """Issue 16: `sqlite:////missing/dir/x.db` silently created the folders and an empty database."""
    from complaints.core.db import DatabaseUrlError, get_engine

    missing = tmp_path / "missing" / "dir"
    with pytest.raises(DatabaseUrlError, match=f"database folder {missing} does not exist"):
        get_engine(f"sqlite:///{missing / 'x.db'}")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(("url", "line"), [
    ("sqlite:////missing/dir/x.db", "database error: database folder /missing/dir does not exist"),
    ("notaurl", "database error: database URL 'notaurl' is not usable: Could not parse"),
    ("postgresql://postgres:s3cret@127.0.0.1:1/x", 'database error: connection failed: connection to server at '
                                                   '"127.0.0.1", port 1 failed'),
])
def test_a_bad_database_url_is_one_line_not_a_traceback(tmp_path: Path, url: str, line: str) -> None:
    """Issue 16: a bad database URL printed a 509-line traceback with the one useful line at the end."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COMPLAINTS_DATABASE_URL": url, "COMPLAINTS_CONFIG_DIR": str(copy_config(tmp_path)),
           "COMPLAINTS_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-c", "from cli.main import main; main()", "stats"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    lines = [x for x in (done.stdout + done.stderr).splitlines() if x.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(line), lines
    assert "s3cret" not in done.stderr
    assert not Path("/missing").exists()


def test_a_cfpb_source_is_date_only_whatever_its_name(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    sources = config / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8").replace("name: regulator", "name: cfpb_portal"),
                       encoding="utf-8")
    cfg = load_config(config)
    assert "cfpb_portal" in cfg.detection.date_only_sources
    assert "app_feedback" not in cfg.detection.date_only_sources
