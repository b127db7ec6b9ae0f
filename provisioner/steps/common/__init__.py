"""What several step packages share, below all of them: node keys, the kinds' base classes
and the EC2 call wrapper.

A kind is mostly metadata (Cloud Custodian's TypeInfo) on one of the bases here, whose
generic `discover` reads through the call wrapper (aws/calls.py) and the run's caches:

- `ec2.Ec2Resource`: EC2's tag-filtered describes, one per kind and run shared by the kinds
  that read the same operation. Declare `describe_operation`, `result_key`, `id_field`,
  `tag_resource_type`, and `state_field`/`gone_states` where a terminal state means gone.
- `listed.ListedResource`: services that list names inside a parent and return tags only
  from the describe of each item (EKS add-ons, access entries, pod identity associations,
  node groups). Declare a `listing = Listing(...)` and `scopes(ctx)`, the parents to list in.

Either way the kind writes `observe(item)`, which turns a described item into its fields
without I/O; reads beyond the describe go in `enrich(ctx, item)`, merged into the item. Kinds
of another shape (IAM's account-wide authorization details, RDS's untagged-filter describes,
Organizations' trees) write `discover` themselves and still build fields with `observe`.

Nothing here imports a step package; step packages never import each other's internals.
"""
