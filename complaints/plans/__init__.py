"""Plan stage: remediation plans with owners and deadlines, escalation, ops actions."""
