"""Kubernetes objects as steps' kinds: reaching a plan's EKS cluster (`connection`) and the
generic server-side-apply kind (`objects`). Kube-backed: only `provisioner.kube` talks to
the API; these modules turn its answers into nodes and the engine's errors.
"""
