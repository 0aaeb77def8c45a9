"""The instance tags fleetpatch reads. No imports: any module may use these at no cost."""

# Patch Manager reads an instance's patch group from either key. AWS documents no rule for
# an instance carrying both with different values; fleetpatch is deliberately stricter and
# patches such an instance under neither (a launch is refused, a wave lists it apart):
# test_conflicting_patch_group_tags_are_refused (tests/unit/test_launch.py) and
# test_an_instance_with_conflicting_patch_group_tags_is_patched_by_no_batch
# (tests/workflows/test_wave_windows.py).
PATCH_GROUP_TAG_KEYS = ("Patch Group", "PatchGroup")
ENVIRONMENT_TAG_KEY = "Environment"
# Set by Auto Scaling on every instance it launches (reserved: no one else can set it).
AUTO_SCALING_GROUP_TAG_KEY = "aws:autoscaling:groupName"
# An instance's patching exception (``fleetpatch.skip_tag``: until=YYYY-MM-DD; reason=TEXT).
SKIP_TAG_KEY = "fleetpatch:skip"
