"""An AWS Organization on the local cloud: several (account, region) clouds in one test.

    from localcloud.org.organization import Organization

    with Organization() as org:
        ou = org.create_organizational_unit("workloads")
        member = org.create_account("app-1", ou)
        with org.using(member, "eu-west-1") as cloud:   # a LocalCloud, running
            cloud.deploy(...)
        org.stack_sets.create_stack_set(...)             # localcloud.org.stacksets

See :mod:`localcloud.org.organization` and docs/localcloud-contract.md.
"""
