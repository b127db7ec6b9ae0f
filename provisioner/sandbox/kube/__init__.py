"""Parts of the sandbox's Kubernetes API emulator (`provisioner.sandbox.kube_emulator`).

- `tls`: a per-cluster CA and a server certificate for 127.0.0.1, made at run time;
- `auth`: EKS bearer-token verification (presigned STS GetCallerIdentity URLs), offline;
- `resources`: the built-in resource table and the API discovery documents;
- `schema`: CRD structural-schema validation, pruning and defaulting;
- `patching`: merge patch, JSON patch, server-side-apply field ownership, label selectors;
- `apiserver`: one cluster's in-memory state and the REST semantics (no sockets), built from
  layers, each a module using only those below it: `store`, `karpenter`, `crds`, `admission`,
  `writes`, `patches`, `watch`; `objects` is their shared vocabulary (errors, responses,
  stored objects, request parsing).

None of these import kubernetes, boto3 or moto: the emulator is reached over HTTPS only, the
same way a real EKS endpoint is.
"""
