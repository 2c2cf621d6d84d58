"""Desired spec, difference against the engine's stored spec, and apply."""
from pipeline import catalog
from pipeline.context import BuildInfo
from pipeline.swarm import spec

DIGEST = "sha256:" + "b" * 64
IMAGE = f"reg:5000/app:1@{DIGEST}"


def settings(replicas=None, env=None, labels=None, ports=(), stop_grace_period=None):
    """Settings as the deploy code reads them today (catalog.legacy_deploy, the shim)."""
    entry = {"image": "reg:5000/app", "networks": ["proxy"],
             "ports": [{"mode": "host", **p} for p in ports], "deploy": {}}
    for key, value in (("environment", env), ("stop_grace_period", stop_grace_period)):
        if value is not None:
            entry[key] = value
    for key, value in (("replicas", replicas), ("labels", labels)):
        if value is not None:
            entry["deploy"][key] = value
    resolved = catalog.from_data({"services": {"app": entry}}).service("app")
    resolved["deploy"] = catalog.legacy_deploy(resolved)
    return resolved


def desired(**deploy):
    labels = spec.deploy_labels(IMAGE, DIGEST, BuildInfo(commit="c0ffee", number="9"))
    return spec.desired_spec(settings(**deploy), IMAGE, {"proxy": "net123"}, labels)


def test_desired_spec_shape():
    doc = desired(replicas=3, env={"B": "2", "A": "1"}, stop_grace_period="1s",
                  ports=[{"target": 8080, "published": 18080}])
    assert doc["Name"] == "app"
    assert doc["TaskTemplate"]["ContainerSpec"] == {
        "Image": IMAGE, "Env": ["A=1", "B=2"], "StopGracePeriod": 1_000_000_000}
    assert doc["TaskTemplate"]["Networks"] == [{"Target": "net123"}]
    assert doc["Mode"] == {"Replicated": {"Replicas": 3}}
    assert doc["EndpointSpec"] == {"Mode": "dnsrr", "Ports": [
        {"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 18080, "PublishMode": "host"}]}
    assert doc["UpdateConfig"]["Order"] == "start-first"
    assert doc["UpdateConfig"]["FailureAction"] == "rollback"
    assert doc["Labels"]["shipway.digest"] == DIGEST
    assert doc["Labels"]["shipway.commit"] == "c0ffee"
    assert "shipway.build-url" not in doc["Labels"]  # empty values are not recorded


def stored(doc):
    """What the engine gives back: zero values dropped, extra fields added."""
    out = spec.apply({"TaskTemplate": {"ContainerSpec": {"Isolation": "default"},
                                       "ForceUpdate": 0, "Runtime": "container"}}, doc)
    out["UpdateConfig"].pop("Delay")          # 0 is omitted by the engine
    out["UpdateConfig"].pop("MaxFailureRatio")
    out["Labels"]["shipway.deployed-at"] = "2020-01-01T00:00:00Z"
    return out


def test_no_difference_against_what_the_engine_stores():
    assert spec.differences(stored(desired()), desired()) == []


def test_differences_name_the_fields():
    current = stored(desired())
    changed = desired(replicas=4, env={"X": "1"})
    assert spec.differences(current, changed) == [
        "TaskTemplate.ContainerSpec.Env", "Mode.Replicated.Replicas"]


def test_removed_label_and_env_are_differences():
    current = stored(desired(env={"X": "1"}, labels={"team": "a"}))
    assert spec.differences(current, desired()) == ["Labels", "TaskTemplate.ContainerSpec.Env"]


def test_apply_keeps_unmanaged_fields_and_replaces_whole_values():
    current = stored(desired(env={"X": "1"}))
    current["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==worker"]}
    new = spec.apply(current, desired(env={"Y": "2"}))
    assert new["TaskTemplate"]["Placement"] == {"Constraints": ["node.role==worker"]}
    assert new["TaskTemplate"]["ContainerSpec"]["Env"] == ["Y=2"]
    assert new["TaskTemplate"]["ContainerSpec"]["Isolation"] == "default"


def test_describe_is_short():
    current = stored(desired())
    changed = desired(replicas=2, stop_grace_period="3s", labels={"team": "a"})
    lines = spec.describe(current, changed, spec.differences(current, changed))
    assert "Labels: +team" in lines
    assert "TaskTemplate.ContainerSpec.StopGracePeriod: 10s -> 3s" in lines
    assert "Mode.Replicated.Replicas: 1 -> 2" in lines


def test_image_and_digest_helpers():
    assert spec.image_of(desired()) == IMAGE
    assert spec.digest_of(IMAGE) == DIGEST
    assert spec.digest_of("reg/app:1") is None
    assert spec.task_image({"Spec": {"ContainerSpec": {"Image": IMAGE}}}) == IMAGE
