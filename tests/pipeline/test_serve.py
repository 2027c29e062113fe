"""`complaints serve` builds its deployments from prefect.yaml; prefect.yaml deploys exactly the registry's flows."""

import yaml

from complaints.core.runtime import prefect_defaults
from complaints.core.settings import PROJECT_ROOT


def test_serve_uses_the_deployments_of_prefect_yaml() -> None:
    prefect_defaults()
    from flows.registry import FLOWS
    from flows.serve import deployments

    declared = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    # One deployment per registered flow, at the registry's entrypoint, under the flow's own name.
    assert sorted(d["name"] for d in declared) == sorted(FLOWS)
    for spec in declared:
        flow, entrypoint = FLOWS[spec["name"]]
        assert spec["entrypoint"] == entrypoint and flow.name == spec["name"]
    built = {d.name: d for d in deployments()}
    assert list(built) == [d["name"] for d in declared]
    for spec in declared:
        d = built[spec["name"]]
        assert d.flow_name == FLOWS[spec["name"]][0].name
        assert [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] == [
            (s["cron"], s["timezone"]) for s in spec.get("schedules") or []]
        assert d.concurrency_limit == spec.get("concurrency_limit")
        # Triggers are kept (serve used to drop them, silently disabling the automation).
        assert [t.expect for t in d.triggers] == [set(t["expect"]) for t in spec.get("triggers") or []]
    assert built["ingest"].schedules[0].schedule.timezone == "Asia/Shanghai"
    assert built["plan"].triggers and built["plan"].triggers[0].enabled
