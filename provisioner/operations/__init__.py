"""What the commands do, callable without the command line (which only parses, asks, renders):

- plan_run.py: one plan's plan, apply or destroy; run.py: several plans as one run;
  locking.py: a plan's locks; cross_plan.py: checks across plan files;
- rds/: operations on what a plan built, outside apply and destroy (`snapshot`, `restore`):
  they use the plan only to find its resources (by deterministic name and ownership tags) and
  never change what the plan owns;
- check/, check_accounts.py, transit_check.py: the live security baseline (`check`);
- iam_policy.py: the least-privilege policy the tool needs (`iam-policy`).

Nothing is imported here: `validate` or `schema` load cross_plan.py without boto3.
"""
