"""`complaints plan list|show|start|done|extend|reassign` against a real database."""


from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Incident, Plan, PlanEvent
from complaints.plans.create import create_plans
from tests.factories import T0, complaint
from tests.plans.test_planning import _incident


def test_plan_commands(app_env: str, app_config: AppConfig) -> None:
    with session_scope(app_env) as s:
        inc = _incident(s)
        complaint(s, "账户被盗刷", severity="critical", category="account_security")
        create_plans(s, app_config, T0)
    with session_scope(app_env) as s:
        plan_id = s.execute(select(Plan.id).where(Plan.subject_type == "incident")).scalar_one()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["plan", *args])
        assert result.exit_code == code, result.output
        return result.output

    listed = run("list")
    assert f"I{inc.id:08d}" in listed and "payments_ops" in listed and "risk" in listed
    assert "payments_ops" not in run("list", "--team", "risk")
    run("start", str(plan_id), "1", "--note", "called the clearing bank", "--by", "payops.wang")
    run("start", str(plan_id), "1", code=1)  # already in progress
    run("reassign", str(plan_id), "2", "payops.zhao", "--note", "wang is on leave", "--by", "payops.lead")
    assert "now due" in run("extend", str(plan_id), "--reason", "awaiting the bank's reconciliation file")
    assert "allows 1" in run("extend", str(plan_id), "--reason", "again", code=1)
    run("extend", str(plan_id), code=2)  # --reason is required
    steps = len(app_config.plans.templates["transfer_delay"])
    for seq in range(1, steps):
        run("done", str(plan_id), str(seq), "--by", "payops.zhao")
    assert "needs --note" in run("done", str(plan_id), str(steps), code=1)
    closed = run("done", str(plan_id), str(steps), "--note", "expired certificate; renewed; monitor added")
    assert "plan closed" in closed
    assert "closed" in run("list", "--status", "closed")
    shown = run("show", str(plan_id))
    assert "status=closed" in shown and "extend" in shown and "payops.lead" in shown
    assert "no plan 999" in run("show", "999", code=1)
    with session_scope(app_env) as s:
        incident = s.get(Incident, inc.id)
        assert (incident.status, incident.root_cause) == ("resolved", "expired certificate; renewed; monitor added")
        history = s.execute(select(PlanEvent.actor, PlanEvent.action, PlanEvent.note)
                            .where(PlanEvent.plan_id == plan_id).order_by(PlanEvent.id)).all()
    assert ("payops.wang", "start", "called the clearing bank") in history
    assert ("payops.lead", "reassign", "wang is on leave") in history
    assert [a for _, a, _ in history].count("extend") == 1 and history[-1][1] == "closed"
