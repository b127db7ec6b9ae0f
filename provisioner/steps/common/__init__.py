"""What several step packages share, below all of them: node keys, the EC2 kinds' base class
and call wrapper, and the server-side-apply kind for Kubernetes objects.

Nothing here imports a step package; step packages never import each other's internals.
"""
