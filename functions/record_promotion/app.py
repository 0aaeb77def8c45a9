"""Record promotion: what a wave installed becomes the exact patch list of the waves it feeds.

Invoked synchronously by the gated-wave workflow when a wave that other waves promote from
has run every batch: for each instance of the wave, the patches installed since the run
started; their union, as an InstallOverrideList, for each promoted wave. A run that
installed nothing leaves the lists as they were (``fleetpatch.promotion.record_lists``).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.record_promotion import Config, PromotionRequest

    from fleetpatch.services.waves import record_promotion

    request = PromotionRequest.model_validate(event)
    return record_promotion(request, artifacts_bucket=load_config(Config).artifacts_bucket)
