"""Karpenter's official CRDs for a pinned version: found, verified, cached (SPEC section 8).

The CRDs are never copied into this repository. `load_crds(version)` reads them from:

1. a directory given by the caller or by `PROVISIONER_KARPENTER_CRDS_DIR` (offline use,
   CI with `../shared/karpenter-crds/<version>`, an air-gapped mirror), else
2. the local cache, `<PROVISIONER_HOME>/cache/karpenter/<version>/`, else
3. a local mirror: a `shared/karpenter-crds/` folder beside the checkout (the team's shared
   data folder, where CI and offline sandboxes have the official files), else
4. GitHub over HTTPS (the files the Karpenter release tag holds, `UPSTREAM_URL`), written
   to the cache for next time.

Every file, wherever it comes from, must match its pinned SHA-256 digest before anything is
parsed or applied; a mismatch is a `PermanentError` naming the file and both digests, and a
cached file that does not match is discarded and fetched again. A directory may hold the
files directly or in a `<version>/` (or `v<version>/`) subfolder.

Adding a Karpenter version: add its file digests to `PINNED` (compute them from the release
tag's `pkg/apis/crds/` files), the controller image's digest to
`chart.CONTROLLER_IMAGE_DIGESTS` and the version to the plan catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from provisioner import paths
from provisioner.engine import PermanentError

ENV_DIR = "PROVISIONER_KARPENTER_CRDS_DIR"
UPSTREAM_URL = "https://raw.githubusercontent.com/aws/karpenter-provider-aws/v{version}/pkg/apis/crds/{file}"
FETCH_TIMEOUT_SECONDS = 30.0

# File name -> SHA-256 of the file as the release tag holds it.
PINNED: dict[str, dict[str, str]] = {
    "1.14.1": {
        "karpenter.sh_nodepools.yaml": "3bb64a20c80776b77aa19a699ebdaf34480a7b2e7ec4ef890b43225b3517f878",
        "karpenter.sh_nodeclaims.yaml": "96037dc241031fe0f7a09ddf78183d885ce6a1dfe115f7b3fbf8a12c564be694",
        "karpenter.k8s.aws_ec2nodeclasses.yaml": "62dec59f01c0972d4503ca3ed25f243ba9c2f561be0d964ce7a14c8df406132f",
    },
}

# urllib's opener, replaceable in tests (this machine has no internet).
urlopen = urllib.request.urlopen


class CrdDigestError(PermanentError):
    pass


def crd_files(version: str) -> dict[str, str]:
    """The pinned files of a version: name -> SHA-256."""
    try:
        return PINNED[version]
    except KeyError:
        raise PermanentError(
            f"no pinned CRD digests for Karpenter {version}",
            hint=f"pinned versions: {', '.join(sorted(PINNED))}",
        ) from None


def cache_dir(version: str) -> Path:
    return paths.subdir("cache", "karpenter", version)


def load_crds(version: str, directory: str | Path | None = None) -> list[dict[str, Any]]:
    """The CRD objects of `version`, verified; see the module docstring for the sources."""
    files = crd_files(version)
    directory = directory or os.environ.get(ENV_DIR) or None
    if directory:
        blobs = {name: _read_from_directory(Path(directory), version, name) for name in files}
    else:
        blobs = {name: _read_cached_or_fetch(version, name, digest) for name, digest in files.items()}
    for name, data in blobs.items():
        verify(name, data, files[name])
    return [crd for name in files for crd in parse(name, blobs[name])]


def verify(name: str, data: bytes, expected: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CrdDigestError(
            f"CRD file {name} has SHA-256 {actual}, expected {expected}; nothing was applied",
            code="CrdDigestMismatch",
            hint="use the official files of the pinned Karpenter release; delete the cache "
            "(<PROVISIONER_HOME>/cache/karpenter) or fix the directory given with --karpenter-crds",
        )


# Parsed files by their bytes' digest, as JSON: PyYAML builds the objects in Python even with
# libyaml's parser (~0.3 s of CPU for the three files), and a process that runs several plans
# (an estate, the tests) reads the same verified bytes again. json.loads gives each caller
# its own objects, at a tenth of the cost.
_parsed: dict[bytes, str] = {}


def parse(name: str, data: bytes) -> list[dict[str, Any]]:
    key = hashlib.sha256(data).digest()
    known = _parsed.get(key)
    if known is not None:
        return list(json.loads(known))
    # libyaml's loader when PyYAML has it: the three files take ~1 s in pure Python.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in yaml.load_all(data.decode("utf-8"), Loader=loader) if d]
    crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise PermanentError(f"CRD file {name} holds no CustomResourceDefinition")
    try:
        _parsed[key] = json.dumps(crds)
    except (TypeError, ValueError):  # a value JSON cannot hold (a YAML date): parsed each time
        pass
    return crds


def _read_from_directory(directory: Path, version: str, name: str) -> bytes:
    for candidate in (directory / name, directory / version / name, directory / f"v{version}" / name):
        if candidate.is_file():
            return candidate.read_bytes()
    raise PermanentError(
        f"CRD file {name} of Karpenter {version} is not in {directory}",
        hint=f"the directory must hold {', '.join(crd_files(version))} (directly or in v{version}/)",
    )


def mirrors() -> list[Path]:
    """Local folders that may hold the official files (checked against the digests like any)."""
    checkout = Path(__file__).resolve().parents[3]
    return [checkout.parent / "shared" / "karpenter-crds", Path.cwd().parent / "shared" / "karpenter-crds"]


def _read_cached_or_fetch(version: str, name: str, digest: str) -> bytes:
    path = cache_dir(version) / name
    if path.is_file():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == digest:
            return data
        path.unlink(missing_ok=True)  # corrupt or tampered: fetch it again
    for mirror in mirrors():
        for candidate in (mirror / f"v{version}" / name, mirror / version / name):
            if candidate.is_file() and hashlib.sha256(candidate.read_bytes()).hexdigest() == digest:
                data = candidate.read_bytes()
                _write_atomically(path, data)
                return data
    data = _fetch(version, name)
    verify(name, data, digest)  # never cache a file that does not match
    _write_atomically(path, data)
    return data


def _fetch(version: str, name: str) -> bytes:
    url = UPSTREAM_URL.format(version=version, file=name)
    try:
        with urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PermanentError(
            f"cannot fetch CRD file {name} of Karpenter {version} from {url}: {exc}",
            code="CrdFetchFailed",
            hint=f"without internet access, pass --karpenter-crds DIR (or set {ENV_DIR}) "
            "to a directory holding the official files",
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
