"""`complaints serve` builds its deployments from prefect.yaml: same names, entrypoints' flows, schedules."""

import yaml

from complaints.runtime import prefect_defaults
from complaints.settings import PROJECT_ROOT


def test_serve_uses_the_deployments_of_prefect_yaml() -> None:
    prefect_defaults()
    from flows.serve import deployments, load_flow

    declared = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    built = {d.name: d for d in deployments()}
    assert list(built) == [d["name"] for d in declared]
    for spec in declared:
        d = built[spec["name"]]
        assert d.flow_name == load_flow(spec["entrypoint"]).name
        assert [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] == [
            (s["cron"], s["timezone"]) for s in spec.get("schedules") or []]
        assert d.concurrency_limit == spec.get("concurrency_limit")
    assert built["ingest"].schedules[0].schedule.timezone == "Asia/Shanghai"
