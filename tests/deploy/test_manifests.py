"""The deployment files, validated offline: the Kubernetes manifests against the API
schemas (kubernetes-validate), the compose file with docker-compose's own `config`, the
Dockerfile's non-root user and health check, and the ConfigMap against policies/."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "kubernetes"

kubernetes_validate = pytest.importorskip("kubernetes_validate")


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


MANIFESTS = ["configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml"]


@pytest.mark.parametrize("name", MANIFESTS)
def test_kubernetes_manifests_match_the_api_schemas(name: str) -> None:
    version = kubernetes_validate.utils.latest_version()
    for doc in docs(name):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    doc = copy.deepcopy(docs("deployment.yaml")[0])
    doc["spec"]["replicas"] = "two"
    doc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, kubernetes_validate.utils.latest_version(), strict=True)


def test_the_deployment_has_probes_limits_and_the_policies_volume() -> None:
    spec = docs("deployment.yaml")[0]["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["policies"]["configMap"]["name"] == docs("configmap.yaml")[0]["metadata"]["name"]
    hpa = docs("hpa.yaml")[0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == docs("deployment.yaml")[0]["metadata"]["name"]
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(MANIFESTS)


def test_the_configmap_holds_the_shipped_policies() -> None:
    sys.path.insert(0, str(K8S))
    try:
        from make_configmap import render  # type: ignore[import-not-found]  # on sys.path above
    finally:
        sys.path.remove(str(K8S))
    assert (K8S / "configmap.yaml").read_text() == render(ROOT / "policies"), (
        "deploy/kubernetes/configmap.yaml is stale: run python deploy/kubernetes/make_configmap.py"
    )


def test_the_compose_file_is_valid() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs it")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    proc = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    services = config["services"]
    assert set(services) == {"pdp", "nginx", "upstream"}
    assert any(str(v).endswith(":/policies:ro") or "/policies" in str(v)
               for v in services["pdp"]["volumes"])
    assert "healthcheck" in services["pdp"]


def test_the_dockerfile_runs_as_a_non_root_user_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    users = [ln.split()[1] for ln in text.splitlines() if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/ready" in text
