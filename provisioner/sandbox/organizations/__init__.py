"""The sandbox's Organizations, GuardDuty and CloudTrail: what moto 5.2 lacks or gets wrong for
the organization and shared steps, made to answer the way AWS answers.

A WSGI layer in front of moto (`wrap`). It recognises calls by their SigV4 credential scope
(`.../<region>/<service>/aws4_request`) and the operation (JSON `X-Amz-Target`, or GuardDuty's
REST path), handles what is listed here and passes everything else to moto. It reads and
amends moto's in-process backends, as `eks` does. `reset()` forgets its own state and
moto's map of member accounts (which moto's reset keeps).

Organizations
- Who may call what (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_org_support-all-features.html):
  an account in no organization gets AWSOrganizationsNotInUseException for everything but
  CreateOrganization and the handshake calls (moto answers ListAccounts with an empty list);
  a member account may call DescribeOrganization and the handshake calls, a member that is a
  delegated administrator for any service may also call the read-only Describe*/List*
  operations (answered with the organization's data), and every other call from a member
  gets AccessDeniedException "You don't have permissions to access this resource." (moto
  answers 500, an empty list, or the wrong error).
- CreateAccount is asynchronous as on AWS: the answer and DescribeCreateAccountStatus say
  IN_PROGRESS for the latency model's p50 (90 s) x `LATENCY_SCALE` (at once with the default
  0, but the first answer always says IN_PROGRESS, as AWS's does); until then the account is
  not listed. It fails as AWS fails, through the status's FailureReason, not an error:
  EMAIL_ALREADY_EXISTS when an account of the organization (or a creation in progress)
  already uses the email (moto makes a second account), ACCOUNT_LIMIT_EXCEEDED beyond
  `ACCOUNT_LIMIT` accounts (AWS's default quota for a new organization is 10).
- Validation moto skips: duplicate OU names under one parent (DuplicateOrganizationalUnitException),
  deleting an OU with accounts or child OUs (OrganizationalUnitNotEmptyException), SCP content
  that is not JSON (MalformedPolicyDocumentException) or longer than 5,120 characters
  (ConstraintViolationException, POLICY_CONTENT_LIMIT_EXCEEDED), attaching an SCP before the
  policy type is enabled on the root (PolicyTypeNotEnabledException) or twice
  (DuplicatePolicyAttachmentException), detaching one that is not attached
  (PolicyNotAttachedException), MoveAccount from a parent the account is not in
  (SourceParentNotFoundException) or to the one it is in (DuplicateAccountException).

GuardDuty
- Organization configuration, which moto lacks: UpdateOrganizationConfiguration and
  DescribeOrganizationConfiguration (per detector of the delegated administrator, in its
  region; `autoEnableOrganizationMembers` ALL / NEW / NONE, default NONE), and ListMembers
  (with ALL, every other active account of the organization, the management account too, is an
  Enabled member: "all accounts in the organization have GuardDuty enabled automatically"). Only the
  delegated administrator of that region may call them, with its own detector.
- EnableOrganizationAdminAccount does what AWS does besides recording the admin: only the
  management account may call it, for a member account, one delegated administrator per
  organization; it enables GuardDuty's trusted access and registers the account as
  GuardDuty's delegated administrator in Organizations, and enables GuardDuty (a detector) in
  that account and region. DisableOrganizationAdminAccount (missing in moto) undoes it.
- CreateDetector refuses a second detector in an account and region (moto makes one per call
  and ignores ClientToken). TagResource / UntagResource / ListTagsForResource for detectors.
- Auto-enable acts as on AWS: `ALL` gives every active member account (the management
  account too) a detector in that region, those there when it was set and those that join
  later; `NEW` only accounts that join after it was set. Each account is enabled once: a
  detector deleted afterwards is not made again. Detectors appear by the next GuardDuty call.

CloudTrail
- An organization trail is listed in every member account, as on AWS: DescribeTrails there
  returns it (the management account's trail: its ARN, HomeRegion, IsOrganizationTrail) with
  the member's own trails, in every region for a multi-region trail, and GetTrailStatus,
  GetTrail, GetEventSelectors and GetInsightSelectors answer for it (moto knows it in the
  management account only).
- DeleteTrail takes the trail's name or ARN (moto ignores an ARN and answers 200), and says
  TrailNotFoundException for a trail that does not exist.
- CreateTrail / UpdateTrail check what AWS checks and moto does not: an organization trail
  needs the management account (NotOrganizationMasterAccountException), all features
  (OrganizationNotInAllFeaturesModeException) and CloudTrail's trusted access
  (CloudTrailAccessNotEnabledException); the bucket policy must let cloudtrail.amazonaws.com
  GetBucketAcl and PutObject under AWSLogs/ (InsufficientS3BucketPolicyException); a KMS key's
  policy must let it GenerateDataKey* (InsufficientEncryptionPolicyException).

Speed: a new member account costs moto ~1.5 s (AWS's managed policies loaded into an IAM
backend per partition); the sandbox loads them in the aws partition only, and drops member
accounts' IAM backends before moto's reset re-initialises them.

Where this differs from AWS (known): messages not published by AWS are close paraphrases;
SCPs are stored, never enforced; auto-enabled GuardDuty members are not listed as members
of the administrator unless auto-enable is ALL.
"""
# Laid out by service: `organizations`, `guardduty`, `cloudtrail` (one class of handlers each),
# `models` (state, settings, shared lookups), `responses` (the WSGI layer).

from provisioner.sandbox.organizations.models import reset
from provisioner.sandbox.organizations.responses import wrap

__all__ = ["reset", "wrap"]
