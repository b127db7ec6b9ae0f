"""The only package that imports the kubernetes client (client, server-side apply, manifests).

Empty until the EKS and Karpenter steps land; the layer exists so the import contract in
pyproject.toml already holds steps to it.
"""
