"""Deploy the real SAM template into a running LocalCloud, as ``sam package`` + ``deploy`` would.

    with LocalCloud() as cloud:
        stack = cloud.deploy()                         # template.yaml with its defaults
        stack.function_name("PatchOnLaunchFunction")   # the physical name, as in AWS

What a deploy does, and why (:func:`localcloud.deployer.deploy.deploy_template`):

1. Package (:mod:`.packaging`). aws-sam-translator accepts only S3 locations for
   ``CodeUri``, ``ContentUri`` and ``DefinitionUri``. Like ``sam package``, each local path
   becomes a placeholder ``s3://`` location and the deploy keeps the local path: that
   directory (or file) is what the local cloud runs. Nothing is uploaded.
2. Transform SAM to CloudFormation offline with the translator (:mod:`.sam`).
3. Parameters (defaults, overrides, validation; :mod:`.parameters`), pseudo parameters,
   Conditions.
4. Create each resource in dependency order through boto3 against the cloud, with the API
   calls CloudFormation makes, so everything deployed is observable through the AWS APIs.
   Functions are also registered with the local Lambda runtime, which runs their code from
   the template's directories. (moto's own CloudFormation is not used: it ignores state
   machines' ``DefinitionSubstitutions`` and knows nothing of the local runtime.) Each
   resource family's creators live in :mod:`.resources`; :mod:`.registry` maps every
   resource type to its creator.
5. Resolve ``Outputs`` into the returned :class:`~.stack.Stack`.

Every property of a supported type is either applied or *recorded*: kept on the stack
because the local cloud cannot apply it (each type's list says why). Any other property,
and any resource type outside :data:`.registry.SUPPORTED_TYPES`, fails the deploy naming
them: a template feature ignored in silence would let tests pass that AWS fails. Types in
:data:`.registry.RECORDED_ONLY_TYPES` are kept on the stack without any API call.
"""
