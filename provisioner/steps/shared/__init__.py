"""The shared step: the Shared Services account's registries and CI/CD identity.

    organization/accounts                      organizations:accounts (read-only): account ids
    │                                          of the pull accounts, and a check that the run
    │                                          is in the plan's account
    shared/ecr/kms-key                         kms:key
    ├── shared/ecr/repository/<name>           ecr:repository (scan on push, IMMUTABLE, KMS,
    │                                          lifecycle, pull policy for the environments)
    shared/ecr/dr/kms-key                      kms:key in dr_region
    ├── shared/ecr/dr/repository/<name>        ecr:repository in dr_region, the same baseline
    └── shared/ecr/replication                 ecr:replication-configuration: this plan's rule
                                               (-> dr_region), other rules of the registry kept
    shared/network/..., shared/transit/...     the tooling VPC and the Transit Gateway (network.py)
    shared/ci/github-oidc-provider             iam:oidc-provider (token.actions.githubusercontent.com)
    └── shared/ci/deploy-role                  iam:role: trusted only by the plan's repository and
                                               branches, may push to exactly these repositories
                                               and assume the environments' deploy roles

The whole run is in the Shared Services account: `resources(plan)` assumes the session already
IS that account (the CLI assumes the organization access role into it; tests do the same), and
the directory node stops the run if it is not.

For each environment, `environment_ci_resources(plan)` gives the nodes the environment plan
adds: the directory and `environment_deploy_role(plan)`, a role in the environment account
that the shared CI role may assume, to which the EKS step gives an access entry scoped to the
application namespaces (eks:DescribeCluster is all it needs from AWS itself).

Replication and the DR region's repositories: ECR replication creates a missing destination
repository with its own defaults (mutable tags, AES256, no lifecycle, no pull policy), so the
step makes the DR repositories itself, before the replication rule, with the same baseline and
a KMS key of the DR region (KMS keys are regional). A repository creation template
(`appliedFor: REPLICATION`) was the alternative; it was not chosen because
- a template's prefix is a namespace (`innovate` covers `innovate/...`, never a repository
  named exactly `innovate`), so it cannot select exactly the plan's repositories; only `ROOT`
  covers names without a namespace, and that would set the baseline of every other team's
  replicated repositories too;
- a template with a customer managed KMS key or tags needs a custom role ECR assumes
  (`customRoleArn`, with kms:CreateGrant and ecr:CreateRepository on `*`): one more role with
  broad rights;
- a template acts once, at creation; repositories made by the tool are discovered, compared
  and corrected on every apply like the primary ones, and destroy removes them (an image
  replicated into one stops destroy with what to do, as in the primary region).
"""

from __future__ import annotations

from provisioner.constants import cluster_name, resource_name
from provisioner.engine import Resource
from provisioner.planfile import Plan, SharedPlan
from provisioner.steps.common.directory import KEY as DIRECTORY
from provisioner.steps.common.directory import directory_for
from provisioner.steps.iam import with_boundary
from provisioner.steps.kms import KmsKey
from provisioner.steps.shared.ci_roles import CI_PATH_ROOT, CiRole, fmt
from provisioner.steps.shared.github import AUDIENCE, GITHUB_HOST, GithubOidcProvider
from provisioner.steps.shared.network import guarded, network_resources
from provisioner.steps.shared.replication import ReplicationConfiguration
from provisioner.steps.shared.repositories import Repository

ECR_KEY = "shared/ecr/kms-key"
DR_ECR_KEY = "shared/ecr/dr/kms-key"
REPLICATION = "shared/ecr/replication"
OIDC_PROVIDER = "shared/ci/github-oidc-provider"
DEPLOY_ROLE = "shared/ci/deploy-role"
ENVIRONMENT_DEPLOY_ROLE = "ci/deploy-role"
DEFAULT_SHARED_ACCOUNT = "shared-services"

PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]

__all__ = [
    "CiRole",
    "GithubOidcProvider",
    "ReplicationConfiguration",
    "Repository",
    "deploy_role_name",
    "dr_repository_key",
    "environment_ci_resources",
    "environment_deploy_role",
    "repository_key",
    "resources",
]

PLAN = ("@plan", "partition")
ACCOUNT = ("@plan", "account_id")
REGION = ("@plan", "region")


def repository_key(name: str) -> str:
    return f"shared/ecr/repository/{name}"


def dr_repository_key(name: str) -> str:
    return f"shared/ecr/dr/repository/{name}"


def deploy_role_name(plan_name: str) -> str:
    return resource_name(plan_name, "ci-deploy")


def iam_arn(account: str, resource: str) -> dict:
    """`arn:<partition>:iam::<account>:<resource>` as a placeholder: the account is a 12-digit id
    written in a plan or an account key of organization.yaml looked up by the directory."""
    if account.isdigit():
        return fmt(f"arn:{{p}}:iam::{account}:{resource}", p=PLAN)
    return fmt(f"arn:{{p}}:iam::{{a}}:{resource}", p=PLAN, a=(DIRECTORY, account))


def resources(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, SharedPlan)
    ecr = spec.ecr
    nodes: list[Resource] = [
        directory_for(
            plan,
            list(dict.fromkeys([spec.account, *ecr.pull_accounts, *(spec.network.share_with if spec.network else [])])),
            expect=spec.account,
        ),
        KmsKey(key=ECR_KEY, name="ecr", description=f"ECR repositories of plan {plan.name}"),
    ]
    repository_keys = []
    for repository in ecr.repositories:
        key = repository_key(repository.name)
        repository_keys.append(key)
        nodes.append(
            Repository(
                key=key,
                depends_on=(ECR_KEY, DIRECTORY),
                name=repository.name,
                kms_key=ECR_KEY,
                untagged_expire_days=ecr.untagged_expire_days,
                keep_tagged_images=ecr.keep_tagged_images,
                pull_accounts=tuple(ecr.pull_accounts),
                directory=DIRECTORY,
                tags={"Name": repository.name},
            )
        )
    if ecr.replicate_to_dr:
        nodes.append(
            KmsKey(
                key=DR_ECR_KEY,
                name="ecr-dr",
                region=spec.dr_region,
                description=f"ECR repositories of plan {plan.name} replicated to {spec.dr_region}",
            )
        )
        dr_keys = []
        for repository in ecr.repositories:
            key = dr_repository_key(repository.name)
            dr_keys.append(key)
            nodes.append(
                Repository(
                    key=key,
                    depends_on=(DR_ECR_KEY, DIRECTORY),
                    name=repository.name,
                    kms_key=DR_ECR_KEY,
                    region=spec.dr_region,
                    untagged_expire_days=ecr.untagged_expire_days,
                    keep_tagged_images=ecr.keep_tagged_images,
                    pull_accounts=tuple(ecr.pull_accounts),
                    directory=DIRECTORY,
                    tags={"Name": repository.name},
                )
            )
        nodes.append(
            ReplicationConfiguration(
                key=REPLICATION,
                depends_on=tuple(dr_keys),
                destination_region=spec.dr_region,
                repositories=tuple(r.name for r in ecr.repositories),
            )
        )
    else:  # removes the rule of a previous apply that replicated
        nodes.append(
            ReplicationConfiguration(
                key=REPLICATION,
                destination_region=spec.dr_region,
                enabled=False,
                repositories=tuple(r.name for r in ecr.repositories),
            )
        )
    subjects = [f"repo:{spec.ci.repository}:ref:refs/heads/{branch}" for branch in spec.ci.branches]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GithubActionsOfTheRepositoryAndBranches",
                "Effect": "Allow",
                "Principal": {"Federated": {"ref": OIDC_PROVIDER, "attr": "arn"}},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{GITHUB_HOST}:aud": AUDIENCE, f"{GITHUB_HOST}:sub": subjects}},
            }
        ],
    }
    statements: list[dict] = [
        # GetAuthorizationToken has no resource: it is the one action ECR only grants on "*".
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Sid": "PushTheseRepositories",
            "Effect": "Allow",
            "Action": PUSH_ACTIONS,
            "Resource": [{"ref": key, "attr": "arn"} for key in repository_keys],
        },
    ]
    environment_roles = [iam_arn(ref, f"role{CI_PATH_ROOT}*") for ref in ecr.pull_accounts]
    if environment_roles:
        statements.append(
            {
                "Sid": "AssumeEnvironmentDeployRoles",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Resource": environment_roles,
            }
        )
    nodes += [
        GithubOidcProvider(key=OIDC_PROVIDER, tags={"Name": "github-actions"}),
        CiRole(
            key=DEPLOY_ROLE,
            depends_on=(OIDC_PROVIDER, DIRECTORY, *repository_keys),
            name=resource_name(plan.name, "github-deploy"),
            trust=trust,
            inline_policies={"push-images": {"Version": "2012-10-17", "Statement": statements}},
        ),
    ]
    if spec.network is not None:
        nodes = guarded([*nodes, *network_resources(plan)])
    return with_boundary(nodes)


def environment_deploy_role(plan: Plan, shared_account: str = DEFAULT_SHARED_ACCOUNT) -> Resource:
    """The role in an environment's account that the shared CI role assumes to deploy.

    It trusts the shared account's CI roles (path /provisioner-ci/) and may describe the
    environment's cluster; Kubernetes permissions come from the EKS access entry the EKS step
    gives it, scoped to the application namespaces. Needs the directory node
    (`environment_ci_resources` returns both) to learn the shared account's id.
    """
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SharedServicesCiRoles",
                "Effect": "Allow",
                "Principal": {"AWS": iam_arn(shared_account, "root")},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {"ArnLike": {"aws:PrincipalArn": iam_arn(shared_account, f"role{CI_PATH_ROOT}*")}},
            }
        ],
    }
    cluster = fmt(f"arn:{{p}}:eks:{{r}}:{{a}}:cluster/{cluster_name(plan.name)}", p=PLAN, r=REGION, a=ACCOUNT)
    return CiRole(
        key=ENVIRONMENT_DEPLOY_ROLE,
        depends_on=() if shared_account.isdigit() else (DIRECTORY,),
        name=deploy_role_name(plan.name),
        trust=trust,
        inline_policies={
            "describe-cluster": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DescribeTheCluster",
                        "Effect": "Allow",
                        "Action": "eks:DescribeCluster",
                        "Resource": cluster,
                    }
                ],
            }
        },
    )


def environment_ci_resources(plan: Plan, shared_account: str = DEFAULT_SHARED_ACCOUNT) -> list[Resource]:
    """What an environment plan adds for CI/CD: the directory and the deploy role."""
    account = getattr(plan.spec, "account", None)
    nodes: list[Resource] = [environment_deploy_role(plan, shared_account)]
    if not shared_account.isdigit():
        nodes.insert(0, directory_for(plan, [shared_account, *([account] if account else [])], expect=account))
    return with_boundary(nodes)
