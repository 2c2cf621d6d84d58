"""shipway's labels, create defaults and spec readers (the plan is in test_deploy_plan.py)."""
from pipeline.context import BuildInfo
from pipeline.swarm import plan as planner
from pipeline.swarm import spec

DIGEST = "sha256:" + "b" * 64
IMAGE = f"reg:5000/app:1@{DIGEST}"


def test_deploy_labels_record_what_runs_and_who_put_it_there():
    labels = spec.deploy_labels(IMAGE, DIGEST, BuildInfo(commit="c0ffee", number="9"), "r1")
    assert labels["shipway.digest"] == DIGEST and labels["shipway.image"] == IMAGE
    assert labels["shipway.commit"] == "c0ffee" and labels["shipway.release"] == "r1"
    assert "shipway.build-url" not in labels  # empty values are not recorded


def test_create_defaults_are_shipways_safe_rollout():
    created = planner.create_spec("app", {planner.IMAGE: IMAGE}, spec.CREATE_DEFAULTS)
    assert created["Mode"] == {"Replicated": {"Replicas": 1}}
    assert created["EndpointSpec"] == {"Mode": "dnsrr"}
    assert created["UpdateConfig"]["Order"] == "start-first"
    assert created["UpdateConfig"]["FailureAction"] == "rollback"
    assert created["RollbackConfig"]["FailureAction"] == "pause"
    assert created["TaskTemplate"]["ContainerSpec"] == {"Image": IMAGE,
                                                        "StopGracePeriod": 10_000_000_000}


def test_image_and_digest_helpers():
    assert spec.image_of({"TaskTemplate": {"ContainerSpec": {"Image": IMAGE}}}) == IMAGE
    assert spec.image_of(None) is None
    assert spec.digest_of(IMAGE) == DIGEST
    assert spec.digest_of("reg/app:1") is None
    assert spec.task_image({"Spec": {"ContainerSpec": {"Image": IMAGE}}}) == IMAGE
