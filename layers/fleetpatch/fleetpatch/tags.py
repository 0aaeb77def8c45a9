"""The instance tags fleetpatch reads. No imports: any module may use these at no cost."""

# Patch Manager reads an instance's patch group from either key (both must agree).
PATCH_GROUP_TAG_KEYS = ("Patch Group", "PatchGroup")
ENVIRONMENT_TAG_KEY = "Environment"
# Set by Auto Scaling on every instance it launches (reserved: no one else can set it).
AUTO_SCALING_GROUP_TAG_KEY = "aws:autoscaling:groupName"
