"""Karpenter inside the cluster: CRD files, manifests (and their conformance with the official
CRD schemas), and the install sequence against the sandbox's Kubernetes API emulator.

The emulator is reached the way a real EKS cluster is: endpoint and CA as the `eks:cluster`
discovery record holds them, an STS-presigned token, the production `kube.client`. Most tests
stand in for the cluster record (a fake `Cluster.discover` and a read-only `eks/cluster` node),
so they need neither moto's EKS nor the sandbox's endpoint wiring; one test goes all the way
through moto's DescribeCluster with the sandbox's endpoint provider.

The official CRDs are read from `../shared/karpenter-crds/` when it exists (CI); elsewhere a
minimal stand-in with permissive schemas is pinned for the test, and the conformance tests
that need the official schemas are skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.engine import Action, Live, PermanentError, Resource, RunContext, Runner
from provisioner.engine.graph import Graph
from provisioner.kube import client as kube
from provisioner.kube.objects import ANNOTATION_KEY, LABEL_MANAGED_BY, LABEL_PLAN, project
from provisioner.planfile import load_plan
from provisioner.sandbox import kube_emulator
from provisioner.steps import build, eks
from provisioner.steps.eks.clusters import Cluster
from provisioner.steps.k8s import connection
from provisioner.steps.karpenter import chart, cluster, crds, kinds, manifests
from tests.conftest import PLANS, REPO
from tests.karpenter_crds import stand_in_crds

DEV = load_plan("dev", PLANS)
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account for the test credentials
VERSION = DEV.spec.karpenter.version
SHARED_CRDS = REPO.parent / "shared" / "karpenter-crds" / f"v{VERSION}"
official = pytest.mark.skipif(
    not SHARED_CRDS.is_dir(), reason="the official CRDs (../shared/karpenter-crds) are not here"
)

IN_CLUSTER_TYPES = {"k8s:crd", "k8s:object", "k8s:deployment", "k8s:ec2nodeclass", "k8s:nodepool"}


def with_pools(pools: list[Any]) -> Any:
    spec = DEV.spec
    karpenter = spec.karpenter.model_copy(update={"node_pools": pools})
    return dataclasses.replace(DEV, spec=spec.model_copy(update={"karpenter": karpenter}))


def inputs(endpoint: str | None = None) -> manifests.Inputs:
    return cluster.inputs_for(DEV, REGION, endpoint)


def objects_by_kind(kind: str, endpoint: str | None = None) -> list[dict[str, Any]]:
    return [m for _, m in manifests.all_objects(inputs(endpoint)) if m["kind"] == kind]


# --------------------------------------------------------------------------- CRD sources


@pytest.fixture
def crd_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where load_crds reads from in this test: the official files, or a pinned stand-in."""
    if SHARED_CRDS.is_dir():
        directory = SHARED_CRDS
    else:
        directory = tmp_path / "crds"
        monkeypatch.setitem(crds.PINNED, VERSION, stand_in_crds(directory))
    monkeypatch.setenv(crds.ENV_DIR, str(directory))
    return directory


@official
def test_pinned_digests_are_those_of_the_official_files() -> None:
    for file, digest in crds.crd_files(VERSION).items():
        assert hashlib.sha256((SHARED_CRDS / file).read_bytes()).hexdigest() == digest, file


@official
def test_load_crds_reads_a_directory_and_returns_the_three_crds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crds.ENV_DIR, raising=False)
    loaded = crds.load_crds(VERSION, directory=SHARED_CRDS)
    assert sorted(c["metadata"]["name"] for c in loaded) == [
        "ec2nodeclasses.karpenter.k8s.aws",
        "nodeclaims.karpenter.sh",
        "nodepools.karpenter.sh",
    ]
    # A parent directory with the version folder works too.
    again = crds.load_crds(VERSION, directory=SHARED_CRDS.parent)
    # The same bytes parse to equal CRDs (made once per process), each caller its own objects.
    assert again == loaded and again[0] is not loaded[0]
    again[0]["metadata"]["name"] = "changed"
    assert crds.load_crds(VERSION, directory=SHARED_CRDS) == loaded


def test_load_crds_refuses_a_file_whose_digest_differs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crds.ENV_DIR, raising=False)
    stand_in_crds(tmp_path)  # valid YAML, but not the pinned official bytes
    with pytest.raises(crds.CrdDigestError) as caught:
        crds.load_crds(VERSION, directory=tmp_path)
    message = caught.value.describe()
    first = next(iter(crds.crd_files(VERSION)))
    actual = hashlib.sha256((tmp_path / first).read_bytes()).hexdigest()
    assert first in message and crds.crd_files(VERSION)[first] in message and actual in message
    assert "nothing was applied" in message


def test_load_crds_names_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crds.ENV_DIR, raising=False)
    with pytest.raises(crds.PermanentError, match="karpenter.sh_nodepools.yaml"):
        crds.load_crds(VERSION, directory=tmp_path)


class FakeResponse(io.BytesIO):
    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> dict[str, Any]:
    """A fake GitHub: urlopen answers from the official files (or a pinned stand-in)."""
    monkeypatch.delenv(crds.ENV_DIR, raising=False)
    monkeypatch.setattr(crds, "mirrors", lambda: [])  # no local mirror: the fetch path
    source = SHARED_CRDS if SHARED_CRDS.is_dir() else tmp_path / "upstream"
    if not SHARED_CRDS.is_dir():
        monkeypatch.setitem(crds.PINNED, VERSION, stand_in_crds(source))
    state: dict[str, Any] = {"urls": [], "tamper": None, "offline": False}

    def urlopen(url: str, timeout: float) -> FakeResponse:
        state["urls"].append(url)
        if state["offline"]:
            raise urllib.error.URLError("no route to host")
        data = (source / url.rsplit("/", 1)[-1]).read_bytes()
        return FakeResponse(state["tamper"](data) if state["tamper"] else data)

    monkeypatch.setattr(crds, "urlopen", urlopen)
    return state


def test_load_crds_fetches_the_release_files_once_into_the_cache(upstream: dict[str, Any], home: Path) -> None:
    first = crds.load_crds(VERSION)
    assert sorted(upstream["urls"]) == sorted(
        f"https://raw.githubusercontent.com/aws/karpenter-provider-aws/v{VERSION}/pkg/apis/crds/{f}"
        for f in crds.crd_files(VERSION)
    )
    cached = home / "cache" / "karpenter" / VERSION
    assert sorted(p.name for p in cached.iterdir()) == sorted(crds.crd_files(VERSION))
    upstream["urls"].clear()
    assert crds.load_crds(VERSION) == first
    assert upstream["urls"] == [], "a verified cache is read, not fetched again"


def test_load_crds_reads_a_local_mirror_before_fetching(
    upstream: dict[str, Any], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "shared" / "karpenter-crds"
    source = SHARED_CRDS if SHARED_CRDS.is_dir() else tmp_path / "upstream"
    (mirror / f"v{VERSION}").mkdir(parents=True)
    for file in crds.crd_files(VERSION):
        (mirror / f"v{VERSION}" / file).write_bytes((source / file).read_bytes())
    monkeypatch.setattr(crds, "mirrors", lambda: [mirror])
    assert len(crds.load_crds(VERSION)) == 3
    assert upstream["urls"] == [], "the mirror's verified files are used, nothing fetched"
    assert sorted(p.name for p in (home / "cache" / "karpenter" / VERSION).iterdir()) == sorted(crds.crd_files(VERSION))


def test_load_crds_fetches_again_over_a_corrupt_cache_file(upstream: dict[str, Any], home: Path) -> None:
    crds.load_crds(VERSION)
    victim = home / "cache" / "karpenter" / VERSION / "karpenter.sh_nodepools.yaml"
    victim.write_bytes(b"tampered")
    upstream["urls"].clear()
    crds.load_crds(VERSION)
    assert [u.rsplit("/", 1)[-1] for u in upstream["urls"]] == ["karpenter.sh_nodepools.yaml"]
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == crds.crd_files(VERSION)["karpenter.sh_nodepools.yaml"]


def test_load_crds_never_caches_a_download_with_the_wrong_digest(upstream: dict[str, Any], home: Path) -> None:
    upstream["tamper"] = lambda data: data + b"\n# changed in transit\n"
    with pytest.raises(crds.CrdDigestError, match="expected"):
        crds.load_crds(VERSION)
    assert not any((home / "cache" / "karpenter" / VERSION).iterdir())


def test_load_crds_offline_without_a_directory_says_how_to_pass_one(upstream: dict[str, Any]) -> None:
    upstream["offline"] = True
    with pytest.raises(crds.PermanentError) as caught:
        crds.load_crds(VERSION)
    assert "--karpenter-crds" in caught.value.describe() and crds.ENV_DIR in caught.value.describe()


# ---------------------------------------------------------------------- manifests (pure)


def _unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the structural schema does not declare (what fieldValidation=Strict refuses)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if path == "" and key in ("apiVersion", "kind", "metadata"):
                continue
            if properties is not None and key in properties:
                found += _unknown_fields(child, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                found += _unknown_fields(child, additional, f"{path}.{key}")
            elif properties is not None or additional is False:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += _unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


@pytest.fixture(scope="module")
def official_schemas() -> dict[str, dict[str, Any]]:
    if not SHARED_CRDS.is_dir():
        pytest.skip("the official CRDs (../shared/karpenter-crds) are not here")
    schemas = {}
    for crd in crds.load_crds(VERSION, directory=SHARED_CRDS):
        (served,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schemas[crd["spec"]["names"]["kind"]] = served["schema"]["openAPIV3Schema"]
    return schemas


@official
def test_nodepools_and_nodeclass_validate_against_the_official_crd_schemas(official_schemas: dict[str, Any]) -> None:
    import jsonschema

    objects = [m for _, m in manifests.node_objects(inputs())]
    assert {m["kind"] for m in objects} == {"NodePool", "EC2NodeClass"}
    for obj in objects:
        schema = official_schemas[obj["kind"]]
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
        assert _unknown_fields(obj, schema) == [], obj["metadata"]["name"]


@official
def test_manifests_stream_validates_against_the_official_schemas(official_schemas: dict[str, Any]) -> None:
    import jsonschema

    stream = [d for d in yaml.safe_load_all(cluster.render_manifests(DEV, REGION)) if d]
    custom = [d for d in stream if d["kind"] in official_schemas]
    assert sorted(d["kind"] for d in custom) == ["EC2NodeClass", "NodePool", "NodePool"]
    for obj in custom:
        jsonschema.validate(obj, official_schemas[obj["kind"]])
        assert _unknown_fields(obj, official_schemas[obj["kind"]]) == []


def test_nodepools_follow_the_plan() -> None:
    pools = {p["metadata"]["name"]: p for p in objects_by_kind("NodePool")}
    assert set(pools) == {"amd64", "arm64"}
    expected = {"amd64": ("amd64", ["m5", "c5"], 10), "arm64": ("arm64", ["m7g", "c7g"], 50)}
    for name, (arch, families, weight) in expected.items():
        spec = pools[name]["spec"]
        requirements = {r["key"]: r for r in spec["template"]["spec"]["requirements"]}
        assert requirements["kubernetes.io/arch"]["values"] == [arch]
        assert requirements["karpenter.k8s.aws/instance-family"]["values"] == families
        assert requirements["karpenter.sh/capacity-type"]["values"] == ["spot", "on-demand"]
        assert requirements["kubernetes.io/os"]["values"] == ["linux"]
        assert all(r["operator"] == "In" for r in requirements.values())
        assert spec["limits"] == {"cpu": "32", "memory": "128Gi"}
        assert spec["disruption"] == {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": "1m",
            "budgets": [{"nodes": "10%"}],
        }
        assert spec["template"]["spec"]["expireAfter"] == "168h"
        assert spec["template"]["spec"]["nodeClassRef"] == {
            "group": "karpenter.k8s.aws",
            "kind": "EC2NodeClass",
            "name": "default",
        }
        assert spec["weight"] == weight


def test_nodeclass_requires_imdsv2_hop_limit_1_and_encrypted_gp3_and_selects_by_discovery_tag() -> None:
    (node_class,) = objects_by_kind("EC2NodeClass")
    spec = node_class["spec"]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (root,) = spec["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda" and root["rootVolume"] is True
    assert root["ebs"] == {"volumeSize": "50Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
    assert spec["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "dev-eks"}}]
    assert spec["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "dev-eks"}}]
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert spec["role"] == "dev-karpenter-nodes" and "instanceProfile" not in spec
    # The tool's ownership tags must not reach what Karpenter creates in EC2.
    assert not any(k.startswith("provisioner:") for k in spec["tags"])
    assert spec["tags"]["Environment"] == "dev"


def test_names_come_from_the_aws_side_nodes() -> None:
    from provisioner.steps import karpenter as aws_side

    names = {n.key: getattr(n, "name", None) for n in aws_side.aws_resources(DEV, REGION)}
    (node_class,) = objects_by_kind("EC2NodeClass")
    assert node_class["spec"]["role"] == names[aws_side.NODE_ROLE]
    (deployment,) = objects_by_kind("Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["INTERRUPTION_QUEUE"] == names[aws_side.QUEUE]


def test_rbac_grants_no_wildcard_and_binds_the_service_account() -> None:
    rbac = [m for _, m in manifests.all_objects(inputs()) if m["apiVersion"].startswith("rbac.")]
    assert {m["kind"] for m in rbac} == {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    for role in (m for m in rbac if m["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
    for binding in (m for m in rbac if m["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "karpenter", "namespace": "kube-system"}]
    core = next(m for m in rbac if m["metadata"]["name"] == "karpenter-core" and m["kind"] == "ClusterRole")
    assert any("nodeclaims" in r["resources"] and "create" in r["verbs"] for r in core["rules"])
    assert any("pods/eviction" in r["resources"] for r in core["rules"])


def test_controller_runs_two_replicas_on_system_nodes_only_spread_across_zones() -> None:
    (deployment,) = objects_by_kind("Deployment", endpoint="https://example.eks.amazonaws.com")
    assert deployment["metadata"]["namespace"] == "kube-system"
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert pod["nodeSelector"]["node.innovate.io/pool"] == "system"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"} in terms[0]["matchExpressions"]
    assert pod["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["maxSkew"] == 1
    assert pod["priorityClassName"] == "system-cluster-critical"
    (container,) = pod["containers"]
    assert (
        container["image"] == f"public.ecr.aws/karpenter/controller:{VERSION}@{chart.CONTROLLER_IMAGE_DIGESTS[VERSION]}"
    )
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert (
        security["runAsNonRoot"]
        and security["readOnlyRootFilesystem"]
        and security["capabilities"] == {"drop": ["ALL"]}
    )
    assert security["allowPrivilegeEscalation"] is False
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CLUSTER_NAME"] == "dev-eks" and env["INTERRUPTION_QUEUE"] == "dev-eks"
    assert env["CLUSTER_ENDPOINT"] == "https://example.eks.amazonaws.com"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (pdb,) = objects_by_kind("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    (service,) = objects_by_kind("Service")
    assert service["spec"]["ports"][0]["port"] == 8080


def test_every_supported_version_pins_its_controller_image_by_digest() -> None:
    from provisioner.planfile.catalog import KARPENTER_VERSIONS

    for version in KARPENTER_VERSIONS:
        image = chart.controller_image(version)
        assert (
            image.startswith(f"public.ecr.aws/karpenter/controller:{version}@sha256:")
            and len(image.rsplit(":", 1)[1]) == 64
        )
    with pytest.raises(PermanentError, match="no pinned controller image digest"):
        chart.controller_image("0.0.1")


def test_every_object_carries_the_ownership_labels_and_its_key() -> None:
    for key, obj in manifests.all_objects(inputs()):
        metadata = obj["metadata"]
        assert metadata["labels"][LABEL_MANAGED_BY] == "provisioner" and metadata["labels"][LABEL_PLAN] == "dev"
        assert metadata["annotations"][ANNOTATION_KEY] == key


def test_manifests_render_without_aws_and_leave_out_an_unknown_endpoint() -> None:
    text = cluster.render_manifests(DEV, REGION)
    docs = [d for d in yaml.safe_load_all(text) if d]
    kinds = [d["kind"] for d in docs]
    assert "CustomResourceDefinition" not in kinds and "Namespace" not in kinds
    assert kinds.count("NodePool") == 2 and kinds.count("EC2NodeClass") == 1 and kinds.count("Deployment") == 1
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    names = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert "CLUSTER_ENDPOINT" not in names and "CLUSTER_NAME" in names
    assert "CLUSTER_ENDPOINT is left out" in text
    # With the endpoint known, it is there; the stream is otherwise the same objects.
    known = [d for d in yaml.safe_load_all(cluster.render_manifests(DEV, REGION, "https://x.example")) if d]
    assert [d["kind"] for d in known] == kinds


def test_graph_keeps_true_dependencies_and_closes_over_the_whole_plan() -> None:
    nodes = {n.key: n for n in cluster.resources(DEV, REGION)}
    assert {n.type for n in nodes.values()} == IN_CLUSTER_TYPES
    for key, node in nodes.items():
        if node.type == "k8s:crd":
            assert set(node.depends_on) == {eks.CLUSTER, eks.TOOL_ACCESS}, key
    deployment = nodes[manifests.DEPLOYMENT_KEY]
    crd_keys = {k for k, n in nodes.items() if n.type == "k8s:crd"}
    assert crd_keys | {
        "karpenter/pod-identity",
        eks.NODEGROUP,
        "eks/addon/coredns",
        "karpenter/serviceaccount/karpenter",
        "karpenter/clusterrolebinding/karpenter-core",
    } <= set(deployment.depends_on)
    assert "karpenter/service/karpenter" not in deployment.depends_on
    for pool in ("amd64", "arm64"):
        assert {manifests.DEPLOYMENT_KEY, manifests.NODE_CLASS_KEY, "karpenter/crd/nodepools.karpenter.sh"} <= set(
            nodes[manifests.nodepool_key(pool)].depends_on
        )
    # Every dependency exists in the environment's graph (AWS side included), without cycles.
    everything = {n.key: n for n in build(DEV, REGION)}
    everything.update(nodes)
    Graph.build(everything.values())


# ------------------------------------------------------------- against the emulator


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str]] = []
        self._lock = threading.Lock()

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        with self._lock:
            self.events.append((kind, key, message))

    def progress(self, key: str) -> list[str]:
        return [m for k, node, m in self.events if k == "progress" and node == key]


class FastClock:
    """The engine's clock, with sleeps that pass at once (a few ms of real time) and an
    optional hook run on every sleep, so waits are exercised without waiting."""

    def __init__(self, on_sleep: Callable[[], None] | None = None) -> None:
        self.offset = 0.0
        self.on_sleep = on_sleep

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += seconds
        if self.on_sleep:
            self.on_sleep()
        time.sleep(0.01)


@dataclasses.dataclass(kw_only=True)
class StandInCluster(Resource):
    """What the `eks:cluster` node publishes, for tests that do not build a cluster."""

    live: Live
    type = "eks:cluster"
    variant = "stand-in"  # the registry knows the real cluster kind by the type alone
    read_only = True

    def read(self, ctx: RunContext) -> Live:
        return self.live


@pytest.fixture
def emulator(aws: str, monkeypatch: pytest.MonkeyPatch, crd_source: Path) -> Iterator[dict[str, Any]]:
    # After `aws`: resetting the sandbox stops its clusters' emulators.
    # The emulator writes a response's headers and body separately; with Nagle's algorithm
    # on, each kept-alive request then waits ~40 ms for a delayed ACK. Until
    # kube_emulator's handler sets this itself, the tests set it (10x faster).
    monkeypatch.setattr(kube_emulator._Handler, "disable_nagle_algorithm", True, raising=False)
    url, ca = kube_emulator.endpoint_for(ACCOUNT, REGION, "dev-eks")
    record = Live(
        key=eks.CLUSTER,
        id="dev-eks",
        raw={"status": "ACTIVE"},
        outputs={
            "endpoint": url,
            "certificate_authority": ca,
            "arn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/dev-eks",
        },
    )
    monkeypatch.setattr(Cluster, "discover", classmethod(lambda cls, ctx: [record]))
    running = kube_emulator.emulator_for(ACCOUNT, REGION, "dev-eks")
    # These tests cut the AWS side (no controller role, no Pod Identity association): the
    # emulated controller only marks objects Ready and makes no AWS call. What it does on AWS
    # as its role allows is tested end to end in tests/sandbox/test_karpenter_controller.py.
    running.api.karpenter = None
    try:
        yield {"url": url, "ca": ca, "record": record, "emulator": running}
    finally:
        kube_emulator.reset()


@pytest.fixture
def api(emulator: dict[str, Any], session_for: Any) -> Iterator[Any]:
    from provisioner.aws.eks_token import eks_token

    client = kube.api_client(emulator["url"], emulator["ca"], eks_token(session_for(REGION), "dev-eks"))
    try:
        yield client
    finally:
        client.close()


def in_cluster_nodes(plan: Any, record: Live) -> list[Resource]:
    """The in-cluster nodes with their AWS-side dependencies cut, plus a stand-in cluster."""
    nodes = cluster.resources(plan, REGION)
    keys = {n.key for n in nodes} | {eks.CLUSTER}
    trimmed = [dataclasses.replace(n, depends_on=tuple(d for d in n.depends_on if d in keys)) for n in nodes]
    return [*trimmed, StandInCluster(key=eks.CLUSTER, live=record)]


@pytest.fixture
def run(emulator: dict[str, Any], session_for: Any) -> Callable[..., Any]:
    """run(op, plan=DEV, clock=None) -> (changeset, result, recorder)."""
    session = session_for(REGION)  # one session: building botocore's models is the slow part

    def go(operation: str, plan: Any = DEV, clock: Any = None, nodes: list[Resource] | None = None) -> Any:
        recorder = Recorder()
        ctx = RunContext(plan=plan, aws=session, reporter=recorder, clock=clock or FastClock())
        runner = Runner(ctx, nodes if nodes is not None else in_cluster_nodes(plan, emulator["record"]))
        changeset = runner.plan(destroy=operation == "destroy")
        result = None
        if operation == "apply":
            result = runner.apply()
        elif operation == "destroy":
            result = runner.destroy()
        if result is not None:
            assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]
        return changeset, result, recorder

    return go


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every write the steps send to the Kubernetes API: (verb, Kind/name)."""
    calls: list[tuple[str, str]] = []
    apply, delete = kube.server_side_apply, kube.delete

    def counting_apply(api: Any, manifest: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(("apply", f"{manifest['kind']}/{manifest['metadata']['name']}"))
        return apply(api, manifest, *args, **kwargs)

    def counting_delete(api: Any, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        calls.append(("delete", f"{kind}/{name}"))
        return delete(api, api_version, kind, name, namespace)

    monkeypatch.setattr(kube, "server_side_apply", counting_apply)
    monkeypatch.setattr(kube, "delete", counting_delete)
    return calls


def actions(changeset: Any, types: set[str] = IN_CLUSTER_TYPES) -> dict[str, Action]:
    return {c.key: c.action for c in changeset.changes if c.type in types}


def ours(api: Any, api_version: str, kind: str) -> list[dict[str, Any]]:
    return kube.list_objects(api, api_version, kind, None, f"{LABEL_PLAN}=dev")


def test_install_is_idempotent_through_four_phases(run: Callable[..., Any], api: Any, writes: list[Any]) -> None:
    expected = {n.key for n in cluster.resources(DEV, REGION)}
    first, _, _ = run("plan")
    assert actions(first) == {k: Action.CREATE for k in expected}

    run("apply")
    second, _, _ = run("plan")
    assert set(actions(second).values()) == {Action.NOOP}, [
        c.as_dict() for c in second.changes if c.action is not Action.NOOP
    ]

    writes.clear()
    run("apply")
    assert writes == [], "a converged apply must not write to the cluster"

    run("destroy")
    assert ours(api, "karpenter.sh/v1", "NodePool") == [] and ours(api, "apps/v1", "Deployment") == []
    assert kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodepools.karpenter.sh") is None
    assert kube.get(api, "v1", "Namespace", "kube-system") is not None, "kube-system is not ours to delete"
    third, _, _ = run("plan")
    assert actions(third) == {k: Action.CREATE for k in expected}


def test_apply_installs_crds_first_then_the_controller_then_node_pools(
    run: Callable[..., Any], api: Any, writes: list[Any]
) -> None:
    _, _result, _ = run("apply")
    order = [name for verb, name in writes if verb == "apply"]
    crd_positions = [i for i, n in enumerate(order) if n.startswith("CustomResourceDefinition/")]
    assert len(crd_positions) == 3
    deployment = order.index("Deployment/karpenter")
    assert max(crd_positions) < deployment < order.index("EC2NodeClass/default") < order.index("NodePool/amd64")
    assert (
        max(order.index(f"{k}/karpenter") for k in ("ServiceAccount", "ClusterRoleBinding", "RoleBinding")) < deployment
    )

    pools = {p["metadata"]["name"]: p for p in ours(api, "karpenter.sh/v1", "NodePool")}
    assert set(pools) == {"amd64", "arm64"}
    assert pools["arm64"]["spec"]["template"]["spec"]["requirements"][3]["values"] == ["m7g", "c7g"]
    (node_class,) = ours(api, "karpenter.k8s.aws/v1", "EC2NodeClass")
    assert node_class["spec"]["metadataOptions"]["httpTokens"] == "required"
    (deployment_obj,) = ours(api, "apps/v1", "Deployment")
    assert kinds.rollout_state(deployment_obj) == "available"
    env = {e["name"]: e.get("value") for e in deployment_obj["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CLUSTER_ENDPOINT"] == kube_emulator.emulator_for(ACCOUNT, REGION, "dev-eks").url
    crd = kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodeclaims.karpenter.sh")
    assert (
        crd["metadata"]["annotations"][kinds.ANNOTATION_SOURCE]
        == crds.crd_files(VERSION)["karpenter.sh_nodeclaims.yaml"]
    )


def test_nodepool_edited_in_the_cluster_shows_as_update_and_apply_restores_it(
    run: Callable[..., Any], api: Any
) -> None:
    run("apply")
    kube.server_side_apply(
        api,
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "amd64"},
            "spec": {
                "limits": {"cpu": "1000"},
                "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "1m"},
            },
        },
        field_manager="kubectl-edit",
    )
    plan, _, _ = run("plan")
    (change,) = [c for c in plan.changes if c.action is not Action.NOOP]
    assert change.key == "karpenter/nodepool/amd64" and change.action is Action.UPDATE and change.type == "k8s:nodepool"
    assert change.diff["spec.limits.cpu"] == {"from": "1000", "to": "32"}
    assert change.diff["spec.disruption.consolidationPolicy"] == {"from": "WhenEmpty", "to": "WhenEmptyOrUnderutilized"}

    run("apply")
    spec = kube.get(api, "karpenter.sh/v1", "NodePool", "amd64")["spec"]
    assert spec["limits"]["cpu"] == "32" and spec["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    again, _, _ = run("plan")
    assert not again.has_changes


def test_a_crd_edited_in_the_cluster_is_restored_from_the_pinned_file(run: Callable[..., Any], api: Any) -> None:
    run("apply")
    crd = kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodepools.karpenter.sh")
    names = dict(crd["spec"]["names"], categories=["karpenter", "edited"])
    kube.server_side_apply(
        api,
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "nodepools.karpenter.sh"},
            "spec": {"group": crd["spec"]["group"], "names": names},
        },
        field_manager="kubectl-edit",
    )
    plan, _, _ = run("plan")
    (change,) = [c for c in plan.changes if c.action is not Action.NOOP]
    assert (change.key, change.type) == ("karpenter/crd/nodepools.karpenter.sh", "k8s:crd")
    assert change.diff == {"spec": {"from": "modified", "to": "upstream"}}
    run("apply")
    restored = kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodepools.karpenter.sh")
    assert restored["spec"]["names"]["categories"] == crd["spec"]["names"]["categories"]
    assert not run("plan")[0].has_changes


def test_a_changed_pool_shows_the_fields_and_a_dropped_field_is_removed(run: Callable[..., Any], api: Any) -> None:
    run("apply")
    amd64, arm64 = DEV.spec.karpenter.node_pools
    changed = with_pools([amd64.model_copy(update={"cpu_limit": 48, "weight": None}), arm64])
    plan, _, _ = run("plan", plan=changed)
    (change,) = [c for c in plan.changes if c.action is not Action.NOOP]
    assert change.key == "karpenter/nodepool/amd64" and change.action is Action.UPDATE
    assert change.diff == {
        "spec.limits.cpu": {"from": "32", "to": "48"},
        "stale_fields": {"from": ["spec.weight"], "to": []},
    }
    run("apply", plan=changed)
    spec = kube.get(api, "karpenter.sh/v1", "NodePool", "amd64")["spec"]
    assert spec["limits"]["cpu"] == "48" and "weight" not in spec
    again, _, _ = run("plan", plan=changed)
    assert not again.has_changes


def test_a_pool_removed_from_the_plan_is_deleted(run: Callable[..., Any], api: Any) -> None:
    run("apply")
    only_amd64 = with_pools(DEV.spec.karpenter.node_pools[:1])
    plan, _, _ = run("plan", plan=only_amd64)
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    assert [(c.key, c.type, c.reason) for c in deletes] == [
        ("karpenter/nodepool/arm64", "k8s:nodepool", "no longer in the plan")
    ]
    run("apply", plan=only_amd64)
    assert [p["metadata"]["name"] for p in ours(api, "karpenter.sh/v1", "NodePool")] == ["amd64"]
    assert not run("plan", plan=only_amd64)[0].has_changes


def test_objects_without_our_labels_are_never_touched(
    run: Callable[..., Any], api: Any, session_for: Any, emulator: dict[str, Any]
) -> None:
    run("apply")
    # Someone else's NodePool and ServiceAccount, and one of another plan.
    kube.server_side_apply(
        api,
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "team-gpu"},
            "spec": {
                "template": {
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": [],
                    }
                }
            },
        },
        field_manager="someone",
    )
    kube.server_side_apply(
        api,
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {
                "name": "other-plan",
                "labels": {LABEL_MANAGED_BY: "provisioner", LABEL_PLAN: "staging"},
                "annotations": {ANNOTATION_KEY: "karpenter/nodepool/other-plan"},
            },
            "spec": {
                "template": {
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": [],
                    }
                }
            },
        },
        field_manager="someone",
    )
    kube.server_side_apply(
        api,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "helper", "namespace": "kube-system"}},
        field_manager="someone",
    )
    plan, _, _ = run("plan")
    assert not plan.has_changes
    ctx = RunContext(plan=DEV, aws=session_for(REGION), reporter=Recorder(), clock=FastClock())
    result = Runner(ctx, in_cluster_nodes(DEV, emulator["record"])).destroy()
    names = {p["metadata"]["name"] for p in kube.list_objects(api, "karpenter.sh/v1", "NodePool")}
    assert names == {"team-gpu", "other-plan"}, "destroy deleted only this plan's NodePools"
    # The NodePool CRD stays, as deleting it would delete the others' NodePools with it; the
    # destroy goes on (the cluster's deletion takes them), saying so.
    assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]
    assert any(
        "kept CRD nodepools.karpenter.sh: 2 NodePool object(s)" in m
        for m in ctx.reporter.progress("karpenter/crd/nodepools.karpenter.sh")
    )
    assert kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodepools.karpenter.sh") is not None
    assert kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodeclaims.karpenter.sh") is None
    assert kube.get(api, "v1", "ServiceAccount", "helper", "kube-system") is not None


def test_create_never_adopts_an_object_of_the_same_name_without_our_labels(
    run: Callable[..., Any], api: Any, session_for: Any, emulator: dict[str, Any]
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "karpenter",
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
        },
    }
    kube.server_side_apply(api, foreign, field_manager="helm")
    ctx = RunContext(plan=DEV, aws=session_for(REGION), reporter=Recorder(), clock=FastClock())
    result = Runner(ctx, in_cluster_nodes(DEV, emulator["record"])).apply()
    failed = {r.key: r for r in result.results.values() if r.status == "failed"}
    assert set(failed) == {"karpenter/serviceaccount/karpenter"}
    assert "ownership labels" in failed["karpenter/serviceaccount/karpenter"].error
    assert result.results[manifests.DEPLOYMENT_KEY].status == "skipped"
    account = kube.get(api, "v1", "ServiceAccount", "karpenter", "kube-system")
    assert account["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}


def test_apply_waits_for_the_controller_rollout_and_reports_progress(
    run: Callable[..., Any], api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_emulator, "LATENCY_SCALE", 0.005)  # a 0.3 s rollout
    _, result, recorder = run("apply")
    progress = recorder.progress(manifests.DEPLOYMENT_KEY)
    assert any("0/2 available" in m for m in progress), progress
    assert kinds.rollout_state(kube.get(api, "apps/v1", "Deployment", "karpenter", "kube-system")) == "available"
    # NodePools started only once the controller was available.
    ended = {r.key: r for r in result.results.values()}
    assert ended[manifests.DEPLOYMENT_KEY].ended <= ended["karpenter/nodepool/amd64"].started

    # A template change is a new rollout, waited for as well.
    kube.server_side_apply(
        api,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "karpenter", "namespace": "kube-system"},
            "spec": {"replicas": 3},
        },
        field_manager="kubectl-scale",
    )
    plan, result, recorder = run("apply")
    assert [c.diff for c in plan.changes if c.action is Action.UPDATE] == [{"spec.replicas": {"from": 3, "to": 2}}]
    assert any("updated" in m for m in recorder.progress(manifests.DEPLOYMENT_KEY))


def test_destroy_does_not_wait_for_nodeclaims_when_the_controller_is_gone(run: Callable[..., Any], api: Any) -> None:
    """Karpenter's controller crashed or was removed: nobody will finish its NodeClaims, so a
    destroy that waited for them would never end. It goes on and says why."""
    run("apply")
    claim = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "amd64-dead1", "labels": {"karpenter.sh/nodepool": "amd64"}},
        "spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
        },
    }
    kube.server_side_apply(api, claim, field_manager="karpenter")
    kube.delete(api, "apps/v1", "Deployment", "karpenter", "kube-system")
    _, result, recorder = run("destroy")
    assert result.status == "ok"
    assert any("controller is not running" in m for m in recorder.progress("karpenter/nodepool/amd64"))
    assert any(
        "kept CRD nodeclaims.karpenter.sh" in m for m in recorder.progress("karpenter/crd/nodeclaims.karpenter.sh")
    )


def test_destroy_waits_until_the_nodeclaims_of_a_pool_are_gone(run: Callable[..., Any], api: Any) -> None:
    run("apply")
    claim = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "amd64-x7k2p", "labels": {"karpenter.sh/nodepool": "amd64"}},
        "spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
        },
    }
    kube.server_side_apply(api, claim, field_manager="karpenter")
    sleeps: list[int] = []

    def karpenter_terminates_the_node() -> None:  # what the controller does while we wait
        sleeps.append(1)
        if len(sleeps) == 2:
            kube.delete(api, "karpenter.sh/v1", "NodeClaim", "amd64-x7k2p")

    _, _, recorder = run("destroy", clock=FastClock(karpenter_terminates_the_node))
    assert any("1 NodeClaim(s) terminating" in m for m in recorder.progress("karpenter/nodepool/amd64"))
    assert kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodepools.karpenter.sh") is None


def test_without_a_cluster_everything_shows_as_create_and_nothing_is_called(
    monkeypatch: pytest.MonkeyPatch, session_for: Any, crd_source: Path
) -> None:
    monkeypatch.setattr(Cluster, "discover", classmethod(lambda cls, ctx: []))
    monkeypatch.setattr(kube, "api_client", lambda *a, **k: pytest.fail("no cluster: no Kubernetes client"))
    monkeypatch.setattr(crds, "load_crds", lambda *a, **k: pytest.fail("no cluster: CRDs not needed to plan"))
    # The cluster is not there yet: its node publishes no endpoint.
    nodes = in_cluster_nodes(DEV, Live(key=eks.CLUSTER, id=""))
    changes = Runner(RunContext(plan=DEV, aws=session_for(REGION)), nodes).plan()
    assert set(actions(changes).values()) == {Action.CREATE}
    (deployment,) = [c for c in changes.changes if c.key == manifests.DEPLOYMENT_KEY]
    assert deployment.type == "k8s:deployment"


def test_a_crd_digest_mismatch_stops_the_plan_and_nothing_is_applied(
    run: Callable[..., Any], api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writes: list[Any]
) -> None:
    bad = tmp_path / "bad-crds"
    bad.mkdir()
    for file in crds.crd_files(VERSION):
        (bad / file).write_bytes(
            b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n# not the release\n"
        )
    monkeypatch.setenv(crds.ENV_DIR, str(bad))
    with pytest.raises(crds.CrdDigestError) as caught:
        run("apply")
    assert "expected" in caught.value.describe()
    assert writes == []
    assert kube.list_objects(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition") == []


def test_without_crd_files_offline_a_plan_says_unverified_and_a_destroy_still_finishes(
    run: Callable[..., Any], api: Any, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    run("apply")
    monkeypatch.delenv(crds.ENV_DIR)
    monkeypatch.setattr(crds, "mirrors", lambda: [])
    fetched: list[str] = []

    def offline(url: str, timeout: float) -> Any:
        fetched.append(url)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(crds, "urlopen", offline)
    plan, _, _ = run("plan")
    changed = {c.key: c.diff for c in plan.changes if c.action is not Action.NOOP}
    assert set(changed) == {n.key for n in cluster.resources(DEV, REGION) if n.type == "k8s:crd"}
    assert all(d == {"spec": {"from": "unverified", "to": "upstream"}} for d in changed.values())
    assert len(fetched) == 1, "one failed fetch per run, not one per CRD"
    run("destroy")
    assert kube.get(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "nodepools.karpenter.sh") is None


def test_install_through_the_sandbox_eks_cluster_endpoint(
    session_for: Any, boto: Any, crd_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path a user's `apply dev --sandbox` takes: the cluster is made in the
    sandbox's EKS, DescribeCluster answers with the cluster's emulator endpoint and CA, the
    Kubernetes client is built from them and an STS-presigned token."""
    from provisioner.sandbox.eks import models as eks_models

    monkeypatch.setattr(eks_models, "CLUSTER_ENDPOINT_PROVIDER", kube_emulator.endpoint_for)
    in_cluster = {n.key: n for n in cluster.resources(DEV, REGION)}
    everything = {n.key: n for n in build(DEV, REGION)}
    everything.update(in_cluster)
    try:
        ctx = RunContext(plan=DEV, aws=session_for(REGION), reporter=Recorder(), clock=FastClock())
        result = Runner(ctx, list(everything.values())).apply()
        assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]
        endpoint = boto("eks").describe_cluster(name="dev-eks")["cluster"]["endpoint"]
        assert endpoint == kube_emulator.emulator_for(ACCOUNT, REGION, "dev-eks").url
        ctx = RunContext(plan=DEV, aws=session_for(REGION), reporter=Recorder(), clock=FastClock())
        again = Runner(ctx, list(everything.values())).plan()
        assert not again.has_changes, [c.as_dict() for c in again.changes if c.action is not Action.NOOP]
        api = connection.api_for(ctx)
        assert {p["metadata"]["name"] for p in kube.list_objects(api, "karpenter.sh/v1", "NodePool")} == {
            "amd64",
            "arm64",
        }
        assert kinds.rollout_state(kube.get(api, "apps/v1", "Deployment", "karpenter", "kube-system")) == "available"
        # What `manifests dev --sandbox` prints once the cluster exists: the same objects.
        assert cluster.cluster_endpoint(session_for(REGION), DEV) == endpoint
        stream = [d for d in yaml.safe_load_all(cluster.render_manifests(DEV, REGION, endpoint)) if d]
        (deployment,) = [d for d in stream if d["kind"] == "Deployment"]
        live_spec = kube.get(api, "apps/v1", "Deployment", "karpenter", "kube-system")["spec"]
        assert project(live_spec, deployment["spec"]) == deployment["spec"]
    finally:
        kube_emulator.reset()


def test_apply_waits_until_karpenter_reports_its_node_pools_ready(
    run: Callable[..., Any], api: Any, session_for: Any, emulator: dict[str, Any]
) -> None:
    """A NodePool that never gets Ready launches no node: apply must not call that a success."""
    run("apply")
    nodes = [n for n in in_cluster_nodes(DEV, emulator["record"]) if n.type == "k8s:nodepool"]
    pool = nodes[0]
    # The controller is gone (scaled away by someone): nothing reconciles the pool any more.
    kube.delete(api, "apps/v1", "Deployment", "karpenter", "kube-system")
    kube.server_side_apply(
        api,
        {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "amd64"}, "spec": {"weight": 5}},
        field_manager="someone",
    )
    ctx = RunContext(plan=DEV, aws=session_for(REGION), reporter=Recorder(), clock=FastClock())
    have = Live(key=pool.key, id="NodePool/amd64", raw={})
    with pytest.raises(PermanentError, match="NodePool amd64: still not ready"):
        kinds.wait_ready(ctx, pool, have)
