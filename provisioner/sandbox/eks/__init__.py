"""The EKS APIs moto lacks or gets wrong, answered the way EKS answers them.

A WSGI layer in front of moto's app (`wrap`). It recognises EKS calls by the SigV4
credential scope (`.../<region>/eks/aws4_request`), answers the operations below, and passes
everything else to moto. State is per account (derived from the access key exactly as moto
does) and region; clusters themselves stay in moto's EKS backend, which this package reads and
amends. `reset()` forgets everything (the server calls it on POST /moto-api/reset).

Laid out as moto lays out a service: `models` (state and settings), `protocol` and
`responses` (the wire and the WSGI layer), `urls` (paths to handlers), `exceptions`, and one
module of handlers per API area: `clusters` (with `cluster_config`), `nodegroups`, `addons`,
`access_entries`, `pod_identities`, `tags`; `catalog` is the fixed snapshot of versions and
add-ons, `iam` the identities, `lifecycle` the transitions over time.

Implemented (paths and shapes of botocore's `eks` service model):

- Add-ons: CreateAddon, DescribeAddon, ListAddons, UpdateAddon, DeleteAddon,
  DescribeAddonVersions. A catalog of vpc-cni, kube-proxy,
  coredns and eks-pod-identity-agent for Kubernetes 1.31-1.35 with one default version per
  add-on and cluster version. Add-on pod identity associations are created, replaced and
  deleted with their add-on (their `ownerArn` is the add-on's ARN).
- Access entries: Create/Describe/List/Update/DeleteAccessEntry, Associate/Disassociate/
  ListAssociatedAccessPolicies, ListAccessPolicies. As on EKS: the cluster creator gets an
  entry with AmazonEKSClusterAdminPolicy when `bootstrapClusterCreatorAdminPermissions` is true
  (the default) and the authentication mode includes the API; managed node groups' node roles
  get an EC2_LINUX (EC2_WINDOWS for Windows AMIs) entry; CONFIG_MAP-only clusters refuse
  access-entry calls.
- Pod Identity associations: Create/Describe/List/Update/DeletePodIdentityAssociation.
- IAM propagation: CreateAccessEntry and CreatePodIdentityAssociation refuse a role of the
  cluster's account younger than its propagation delay (`iam.iam_propagation_delay`: seeded,
  within latency-model.md's 10-120 s, times LATENCY_SCALE; none at scale 0) with the
  InvalidParameterException EKS gives ("invalid principal" / "Role provided in the request
  does not exist"), and a Pod Identity role that does not exist at all likewise.
- Clusters: CreateCluster is validated (version, role and its trust policy, subnets in two AZs
  of one VPC, security groups, KMS key, access config) and completed the way EKS completes it:
  accessConfig, upgradePolicy, endpoint access defaults, vpcId, an EKS-created cluster security
  group (really created in EC2, deleted with the cluster), a per-cluster endpoint and OIDC
  issuer, the service CIDR EKS picks. UpdateClusterConfig (endpoint access, VPC subnets and
  security groups, logging, authentication mode, upgrade policy; one kind per call, as on
  EKS; new subnets must cover exactly the AZs the cluster was created in),
  UpdateClusterVersion (exactly one minor up, node groups first), AssociateEncryptionConfig,
  DescribeUpdate, ListUpdates. DeleteCluster removes the cluster's add-ons, access entries, pod
  identity associations and security group, then calls the `on_cluster_deleted` hooks.
- Node groups: CreateNodegroup is validated (node role exists, trusts ec2.amazonaws.com, has
  the managed policies EKS demands; subnets exist; scaling sizes) and defaults like EKS (the
  cluster's version, AL2023 AMI type, no remote access unless asked). UpdateNodegroupConfig
  and UpdateNodegroupVersion return real `update` records (moto's params are not valid
  UpdateParam types, and UpdateNodegroupVersion is missing).
- TagResource/UntagResource/ListTagsForResource for every EKS ARN (moto knows only clusters).

Timing. Every transitional record has a `ready_at` of now + p50 x `models.LATENCY_SCALE`
seconds (`models.P50_SECONDS`, from latency-model.md). Until then EKS's transitional states
are reported (cluster CREATING/UPDATING/DELETING, node group CREATING/UPDATING/DELETING,
add-on CREATING/UPDATING/DELETING, update InProgress); states settle at the start of every
EKS request. With the default scale 0 everything is final at once. Create and delete
responses report CREATING/DELETING even then, because EKS's responses always do.

Node groups have instances: `eks_nodes` launches and terminates them in moto's EC2 as the
group's desired size and status say, and hands their Nodes to the Kubernetes emulator.

Hooks for the Kubernetes API emulator: `models.CLUSTER_ENDPOINT_PROVIDER(account, region,
name)` may return `(endpoint, ca_base64)` to replace what CreateCluster/DescribeCluster
report, and `models.on_cluster_deleted(callback)` registers `callback(account, region, name)`,
called once a cluster is gone.

Where this differs from AWS (known):
- Error messages are EKS's where they are published; the rest are close paraphrases.
- Principals and roles are checked against IAM only in the cluster's own account; ARNs in
  other accounts are accepted unchecked.
- The cluster creator is the identity moto's STS reports for the CreateCluster caller's key:
  the IAM role of an assumed-role session (EKS names the role, not the session), an IAM user,
  or, for keys moto does not know (the `testing` key), moto's stand-in user "moto"
  (`arn:aws:iam::ACCOUNT:user/moto`, or the `sts` form moto itself answers), which IAM does not
  have but which EKS calls here accept as an existing IAM user, so that a tool can give its
  own caller an entry. Clusters created directly in moto's backend get the
  identity of the first EKS caller that touches them.
- Not published, so chosen here: the access-entry ARN of the root principal
  (`.../root/ACCOUNT/UUID`); the Kubernetes groups of FARGATE_LINUX/HYBRID_LINUX entries; that
  an unknown access policy ARN is InvalidParameterException; that add-ons are not downgraded;
  that a node role's automatic entry stays after its node group is deleted; that add-on-owned
  pod identity associations may be deleted directly.
- Nothing runs in Kubernetes: add-ons, policies and associations are bookkeeping only, so
  coredns becomes ACTIVE without nodes (on EKS it waits for them) and `preserve` on
  DeleteAddon changes nothing.
- upgradePolicy defaults to EXTENDED, as EKS documents; clientRequestToken idempotency is
  implemented for CreateAccessEntry, CreatePodIdentityAssociation and CreateAddon (the same
  token answers with what the first call made while it exists; with a different request it
  is InvalidParameterException, a message chosen here); CreateNodegroup's token is moto's;
  UpdateClusterConfig supports the fields listed above (others, e.g. Auto Mode's
  computeConfig, answer InvalidParameterException); DescribeClusterVersions is not implemented.
- The add-on catalog is a fixed, realistic snapshot, not AWS's live list.
- Not simulated because neither the tool nor its tests use them (moto answers them as it
  does): DescribeAddonConfiguration, and Fargate profiles (no access entry for their pod
  execution role, no tagging of their ARNs here).
"""

from provisioner.sandbox.eks.models import reset
from provisioner.sandbox.eks.responses import wrap

__all__ = ["reset", "wrap"]
