"""S3 on the local cloud: an object's LastModified is the simulated time it was written, and a
conditional write checks and writes as one step."""

from __future__ import annotations

import sys
import threading

from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud

REGION = "eu-central-1"


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


# --- conditional writes ----------------------------------------------------------------------


def test_a_conditional_write_refuses_a_changed_or_existing_object(cloud: LocalCloud) -> None:
    # Given an object and the ETag it was read with
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="pages", CreateBucketConfiguration={"LocationConstraint": REGION})
    etag = s3.put_object(Bucket="pages", Key="day.html", Body=b"1", IfNoneMatch="*")["ETag"]

    # When it is created again, or replaced after someone else did
    s3.put_object(Bucket="pages", Key="day.html", Body=b"2", IfMatch=etag)
    codes = []
    for condition in ({"IfNoneMatch": "*"}, {"IfMatch": etag}):
        try:
            s3.put_object(Bucket="pages", Key="day.html", Body=b"3", **condition)
        except ClientError as exc:
            codes.append(
                (exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"])
            )

    # Then S3 refuses both (412) and keeps the second writer's object
    assert codes == [("PreconditionFailed", 412), ("PreconditionFailed", 412)]
    assert s3.get_object(Bucket="pages", Key="day.html")["Body"].read() == b"2"


def test_concurrent_conditional_writes_never_lose_one(cloud: LocalCloud) -> None:
    # Given writers on threads that each add their line to one object, read-modify-write
    # with If-Match (as fleetpatch.report_days does), switching threads as often as Python can
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="pages", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="pages", Key="day.txt", Body=b"")
    writes: list[int] = []
    refusals: list[str] = []

    def add(line: str) -> None:
        for attempt in range(200):
            found = s3.get_object(Bucket="pages", Key="day.txt")
            body = found["Body"].read() + f"{line}\n".encode()
            try:
                s3.put_object(Bucket="pages", Key="day.txt", Body=body, IfMatch=found["ETag"])
            except ClientError as exc:
                refusals.append(exc.response["Error"]["Code"])
                continue
            writes.append(attempt)
            return

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=add, args=(f"run-{n}",)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)

    # Then every writer's line is there: each write that succeeded was on the latest version
    lines = s3.get_object(Bucket="pages", Key="day.txt")["Body"].read().decode().split()
    assert len(writes) == 12
    assert set(refusals) <= {"PreconditionFailed"}
    assert sorted(lines) == sorted(f"run-{n}" for n in range(12))
