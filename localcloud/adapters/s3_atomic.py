"""S3 object writes and reads on the local cloud: each one step, as in S3 (conditional writes).

S3 answers a PutObject with ``If-Match: <ETag>`` or ``If-None-Match: *`` by checking the
object and writing it atomically: of two writers that read the same version, one wins and
the other gets 412 PreconditionFailed (``fleetpatch.report_days`` relies on it to keep every
run on its day's page). moto 5.2.5 checks both headers, but the check and the write are two
steps in ``S3Response.put_object``, and the local cloud runs concurrent work (Lambda
invocations from Map iterations and event deliveries) on threads: a second writer can pass
the check between them and both writes succeed, the first one's lost. And a write closes
the buffer of the object it replaces, so a GetObject reading it at that moment fails
("I/O operation on closed file"), which S3 never does. Here one lock covers each PutObject
(its check and its write) and each GetObject (its read of the body): S3's object reads and
writes are atomic, and so are moto's.

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_core.py):
``moto.s3.responses.S3Response.put_object`` (moto checks ``If-Match``/``If-None-Match``
there, before the backend stores) and ``S3Response.get_object``, wrapped.
"""

from __future__ import annotations

import threading

from localcloud.core import motopatch

TAG = "_fleetpatch_s3_atomic"
# One lock for all objects: in-process, S3 calls are short and the GIL serialises them
# anyway. Re-entrant: moto may notify (and so run Lambda code) from inside a write.
_LOCK = threading.RLock()


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.s3.responses import S3Response

    motopatch.patch(S3Response, "put_object", motopatch.holding(_LOCK), tag=TAG, wraps=True)
    motopatch.patch(S3Response, "get_object", motopatch.holding(_LOCK), tag=TAG, wraps=True)
