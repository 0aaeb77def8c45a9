"""S3 on the local cloud: an object's LastModified is the simulated time it was written."""

from __future__ import annotations

from localcloud.cloud import LocalCloud


def test_an_object_is_stamped_with_the_simulated_time(cloud: LocalCloud) -> None:
    # Given a bucket, a simulated day after the cloud started
    s3 = cloud.client("s3")
    s3.create_bucket(
        Bucket="stamps", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    cloud.advance(24 * 3600)

    # When an object is written
    s3.put_object(Bucket="stamps", Key="list.yaml", Body=b"patches: []\n")

    # Then S3 says it was written then (to the second, as S3 reports it)
    written = cloud.clock.now().replace(microsecond=0)
    assert s3.head_object(Bucket="stamps", Key="list.yaml")["LastModified"] == written
    [listed] = s3.list_objects_v2(Bucket="stamps")["Contents"]
    assert listed["LastModified"] == written
