"""deploy/prometheus/alerts.yaml: valid for Prometheus (`promtool check rules`), its alerts
fire when they should (`promtool test rules` on alerts.test.yaml), and every metric it names
is one the server exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.server.conftest import app_for, serving

ROOT = Path(__file__).parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None, reason="promtool (Debian's prometheus package; .ci/run installs it)"
)


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    done = subprocess.run([promtool, "check", "rules", "alerts.yaml"], cwd=PROMETHEUS,  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_the_alerts_fire_in_promtools_unit_tests() -> None:
    done = subprocess.run([promtool, "test", "rules", "alerts.test.yaml"], cwd=PROMETHEUS,  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    rules["groups"][0]["rules"][0]["expr"] = "siamese_policy_last_reload_failed =="
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", "broken.yaml"], cwd=tmp_path,  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def _families(exposition: str) -> set[str]:
    return {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}


async def test_every_metric_the_alerts_name_is_exposed(tmp_path: Path) -> None:
    app = app_for(
        tmp_path, "allow(?s, ?a, ?r) :- ?s == alice.\n",
        SIAMESE_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        SIAMESE_HTTP_ALLOW="http://127.0.0.1:9/",
    )
    async with serving(app) as c:
        families = _families((await c.get("/metrics")).text)
    rules = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    named = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            named |= set(re.findall(r"\b(siamese_[a-z_]+)", rule["expr"]))
    assert named, "the alerts name no metric"
    for metric in sorted(named):
        # a histogram's series are its family's name and a suffix
        family = re.sub(r"_(bucket|count|sum)$", "", metric)
        assert metric in families or family in families, f"{metric}: not exposed by /metrics"
