"""Kubernetes for the environment's cluster: `manifests` (what apply installs, for GitOps),
`kubeconfig`, and `eks-token`, kubectl's exec credential plugin that `kubeconfig` names."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from provisioner import paths
from provisioner.cli.exit_codes import EXIT_OK
from provisioner.cli.session import make_session, token_session
from provisioner.planfile import load_plan

# aws/, steps/ and yaml are imported inside the commands: the parser imports every command
# module, and kubectl runs `eks-token` often, so it should load no more than it uses.


def cmd_manifests(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every Kubernetes object apply installs except the upstream CRDs, for GitOps users.

    From the plan alone by default: no AWS call, so it works without credentials, and the one
    value only AWS knows (the cluster endpoint) is left out, which Karpenter looks up itself.
    `--live` reads the endpoint with DescribeCluster (errors are errors then)."""
    from provisioner.engine import PermanentError
    from provisioner.planfile import EnvironmentPlan
    from provisioner.steps.karpenter import cluster

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and installs nothing in Kubernetes")
    region = args.region or plan.spec.region
    endpoint = None
    if args.live:
        from provisioner.aws.accounts import session_for_plan

        endpoint = cluster.cluster_endpoint(session_for_plan(make_session(args, plan), plan), plan)
        if endpoint is None:
            print(
                f"note: cluster {plan.name} does not exist yet; CLUSTER_ENDPOINT is left out and Karpenter looks it up",
                file=err,
            )
    out.write(cluster.render_manifests(plan, region, endpoint, live=args.live))
    return EXIT_OK


def cmd_kubeconfig(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """A kubeconfig that authenticates the standard EKS way: an exec plugin that mints a
    token from STS on demand (this tool's `eks-token`), so the file holds no credential."""
    import yaml

    from provisioner.constants import cluster_name
    from provisioner.engine import PermanentError
    from provisioner.planfile import EnvironmentPlan

    plan = load_plan(args.plans[0], args.plans_dir)
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan and has no cluster")
    from provisioner.aws.accounts import session_for_plan

    session = session_for_plan(make_session(args, plan), plan)
    name = cluster_name(plan.name)
    eks = session.client("eks")
    try:
        cluster = eks.describe_cluster(name=name)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        raise PermanentError(
            f"cluster {name} does not exist in account {session.account_id}, {session.region}",
            hint=f"run `provisioner apply {plan.name}{' --sandbox' if args.sandbox else ''}` first",
        ) from None
    exec_args = ["-m", "provisioner", "eks-token", "--cluster", name, "--region", session.region]
    management = session.management
    if management is not None and session is not management and session.account_id != management.account_id:
        # The cluster admits the identity apply ran as: the organization access role.
        role = plan.organization.access_role_name if plan.organization else "OrganizationAccountAccessRole"
        exec_args += ["--role-arn", f"arn:{session.partition}:iam::{session.account_id}:role/{role}"]
    env = []
    if args.sandbox:
        exec_args.append("--sandbox")
        env.append({"name": "PROVISIONER_HOME", "value": str(paths.home())})
    elif args.profile:
        exec_args += ["--profile", args.profile]
    user: dict[str, Any] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": exec_args,
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
    }
    if env:
        user["exec"]["env"] = env
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster["arn"],
                "cluster": {
                    "server": cluster["endpoint"],
                    "certificate-authority-data": cluster["certificateAuthority"]["data"],
                },
            }
        ],
        "users": [{"name": cluster["arn"], "user": user}],
        "contexts": [{"name": name, "context": {"cluster": cluster["arn"], "user": cluster["arn"]}}],
        "current-context": name,
    }
    text = yaml.safe_dump(config, sort_keys=False)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(args.write, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        print(f"wrote {args.write} (context {name})", file=out)
    else:
        out.write(text)
    return EXIT_OK


def cmd_eks_token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print an ExecCredential for kubectl. The token goes to kubectl on stdout, nowhere else."""
    from datetime import UTC, datetime, timedelta

    from provisioner.aws.eks_token import eks_token

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = token_session(args, region)
    if args.role_arn:
        from provisioner.aws.accounts import assume_role

        account, role = args.role_arn.split(":")[4], args.role_arn.split("/", 1)[1]
        session = assume_role(session, account, role, f"provisioner-kubectl-{args.cluster}")
    token = eks_token(session, args.cluster, region)
    # EKS accepts a token for 15 minutes; tell kubectl to refresh it well before.
    expires = (datetime.now(UTC) + timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(
        json.dumps(
            {
                "kind": "ExecCredential",
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "spec": {},
                "status": {"expirationTimestamp": expires, "token": token},
            }
        ),
        file=out,
    )
    return EXIT_OK
