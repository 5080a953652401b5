"""SQS adapter for :class:`~chalicelib.ports.QueuePort` (the ``aws`` backend).

The work queues (priority trio, ``heavy``, ``batch``) and the dead-letter queue are provisioned by ``infra/template.yaml``; the
redrive to the DLQ after ``maxReceiveCount`` receives is done by SQS itself (redrive policy),
not by this adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from chalicelib.adapters.aws.errors import translate_aws_errors
from chalicelib.core.queues import check_message, target_queue
from chalicelib.errors import DependencyError, NotFound, PermanentDependencyError
from chalicelib.ports import QUEUES, MessageFilter, QueueMessage, QueueStats, queue_name

#: SQS maximum message size, bytes: 1 MiB (AWS SQS quotas, 2026; moto 5.2 enforces the same).
#: Counts the body plus every attribute's name, data type and value (``chalicelib.core.queues.message_bytes``).
SQS_MAX_MESSAGE_BYTES = 1_048_576
#: SQS batch calls take at most 10 entries; ReceiveMessage returns at most 10 messages.
SQS_BATCH = 10
#: Visibility timeout (s) used while :meth:`SqsQueue.move` holds the messages it moves.
MOVE_VISIBILITY_S = 60
#: Error codes of a stale or unknown receipt handle (ignored by delete / change_visibility).
STALE_HANDLE_CODES = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight",
                                "InvalidParameterValue"})

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = SQS_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqsQueue:
    """:class:`~chalicelib.ports.QueuePort` over SQS standard queues.

    ``queue_urls`` maps each logical queue (:data:`~chalicelib.ports.QUEUES`: ``high``,
    ``medium``, ``low``, ``heavy``, ``batch``, ``dlq``) to its URL; with ``prefix``, a queue
    missing from it is resolved on first use (one ``GetQueueUrl``, then cached).
    Errors: botocore errors become :mod:`chalicelib.errors` (see ``errors``); an unknown
    logical queue raises :class:`NotFound`.
    """

    max_message_bytes: int = SQS_MAX_MESSAGE_BYTES

    def __init__(self, sqs_client: Any, queue_urls: Mapping[str, str], *,
                 prefix: str | None = None):
        self._sqs = sqs_client
        self._urls = dict(queue_urls)
        self._prefix = prefix

    @classmethod
    def on_first_use(cls, sqs_client: Any, prefix: str) -> SqsQueue:
        """Queues ``<prefix>-<queue>``, each URL resolved when the queue is first used (a cold
        edge resolves only the queue its first delivery goes to). A queue that does not exist
        raises :class:`NotFound` from that first call."""
        return cls(sqs_client, {}, prefix=prefix)

    @classmethod
    def from_prefix(cls, sqs_client: Any, prefix: str) -> SqsQueue:
        """Resolve ``<prefix>-high|medium|low|heavy|batch|dlq`` with one ``GetQueueUrl`` each (do it once,
        at cold start). Raises :class:`NotFound` if a queue does not exist."""
        urls = {}
        for queue in QUEUES:
            name = queue_name(prefix, queue)
            resp = cls._call(f"get_queue_url {name}", sqs_client.get_queue_url, QueueName=name)
            urls[queue] = resp["QueueUrl"]
        return cls(sqs_client, urls)

    @staticmethod
    def _call(what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        with translate_aws_errors(what):
            return fn(**kwargs)

    def _url(self, queue: str) -> str:
        url = self._urls.get(queue)
        if url is not None:
            return url
        if self._prefix is None or queue not in QUEUES:
            known = sorted(self._urls) if self._prefix is None else list(QUEUES)
            raise NotFound(f"unknown queue {queue!r}; known: {known}")
        name = queue_name(self._prefix, queue)
        url = self._call(f"get_queue_url {name}", self._sqs.get_queue_url,
                         QueueName=name)["QueueUrl"]
        self._urls[queue] = url  # a race resolves the same URL twice: harmless
        return url

    # --- QueuePort ----------------------------------------------------------------------------
    def send(self, queue: str, body: str, attributes: Mapping[str, str] | None = None,
             delay_s: int = 0) -> str:
        """Send one message; returns the SQS ``MessageId``. Raises
        :class:`PermanentDependencyError` when the message exceeds :attr:`max_message_bytes`
        (checked here, before the call) or contains U+0000."""
        check_message(body, attributes, self.max_message_bytes)
        kwargs: dict[str, Any] = {"QueueUrl": self._url(queue), "MessageBody": body,
                                  "DelaySeconds": int(delay_s)}
        if attributes:
            kwargs["MessageAttributes"] = _to_sqs_attributes(attributes)
        return self._call(f"send_message {queue}", self._sqs.send_message, **kwargs)["MessageId"]

    def receive(self, queue: str, max_messages: int = 10, visibility_timeout_s: int = 30,
                wait_s: float = 0.0) -> list[QueueMessage]:
        """``ReceiveMessage`` with ``WaitTimeSeconds=round(wait_s)`` (0..20, long polling).
        ``receive_count`` is ``ApproximateReceiveCount``; ``sent_at`` is ``SentTimestamp``
        (ms) / 1000."""
        resp = self._call(
            f"receive_message {queue}", self._sqs.receive_message,
            QueueUrl=self._url(queue), MaxNumberOfMessages=max(1, min(SQS_BATCH, max_messages)),
            VisibilityTimeout=int(visibility_timeout_s),
            WaitTimeSeconds=max(0, min(20, round(wait_s))),
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        )
        return [_from_sqs(queue, m) for m in resp.get("Messages", [])]

    def delete(self, queue: str, receipt_handles: Sequence[str]) -> None:
        """``DeleteMessageBatch`` in chunks of 10; stale or invalid handles are ignored."""
        url = self._url(queue)
        for batch in chunks(list(receipt_handles)):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(batch)]
            resp = self._call(f"delete_message_batch {queue}", self._sqs.delete_message_batch,
                              QueueUrl=url, Entries=entries)
            _raise_failed(f"delete_message_batch {queue}", resp, STALE_HANDLE_CODES)

    def change_visibility(self, queue: str, receipt_handle: str, timeout_s: int) -> None:
        """``ChangeMessageVisibility``; a stale handle (message deleted or no longer in
        flight) is ignored."""
        with translate_aws_errors(f"change_message_visibility {queue}",
                                  ignore_codes=STALE_HANDLE_CODES):
            self._sqs.change_message_visibility(QueueUrl=self._url(queue),
                                                ReceiptHandle=receipt_handle,
                                                VisibilityTimeout=int(timeout_s))

    def stats(self, queue: str) -> QueueStats:
        """From ``ApproximateNumberOfMessages`` / ``...NotVisible`` / ``...Delayed``.

        ``oldest_age_s`` is always 0.0: SQS exposes no such queue attribute (only the
        CloudWatch metric ``ApproximateAgeOfOldestMessage``, which needs a CloudWatch call and
        lags by minutes); read the metric where the age matters.
        """
        resp = self._call(f"get_queue_attributes {queue}", self._sqs.get_queue_attributes,
                          QueueUrl=self._url(queue), AttributeNames=[
                              "ApproximateNumberOfMessages",
                              "ApproximateNumberOfMessagesNotVisible",
                              "ApproximateNumberOfMessagesDelayed"])
        attrs = resp.get("Attributes", {})
        return QueueStats(queue=queue,
                          visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
                          in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                          delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
                          oldest_age_s=0.0)

    def move(self, source: str, destination: str | None = None, max_messages: int = 1000,
             *, match: MessageFilter | None = None) -> int:
        """Redrive by hand: receive -> ``SendMessageBatch`` to the destination ->
        ``DeleteMessageBatch`` from the source, until ``source`` answers empty (short polling)
        or ``max_messages`` were moved. moto has no ``StartMessageMoveTask``; this is what a
        redrive task does. With ``match``, the messages it does not take are held (invisible)
        while the rest of the queue is scanned, then made visible again at once
        (``ChangeMessageVisibility`` 0), also when a call fails.

        At-least-once: a crash between send and delete leaves the message in both queues (the
        source copy reappears after :data:`MOVE_VISIBILITY_S` s); worker idempotency absorbs the
        duplicate. Receiving from a queue with a redrive policy counts toward its
        ``maxReceiveCount``. With ``destination=None`` each message goes back to its own work
        queue (:func:`~chalicelib.core.queues.target_queue`: ``heavy`` / ``batch`` by its
        ``target`` attribute, else its ``priority``, ``low`` if absent or not a priority).
        """
        if destination is not None:
            self._url(destination)

        def send_then_delete(msgs: list[QueueMessage]) -> list[str]:
            by_target: dict[str, list[QueueMessage]] = {}
            for msg in msgs:
                by_target.setdefault(destination or target_queue(msg.attributes), []).append(msg)
            for target, group in by_target.items():
                entries = [{"Id": str(i), "MessageBody": m.body,
                            **({"MessageAttributes": _to_sqs_attributes(m.attributes)}
                               if m.attributes else {})}
                           for i, m in enumerate(group)]
                resp = self._call(f"send_message_batch {target}", self._sqs.send_message_batch,
                                  QueueUrl=self._url(target), Entries=entries)
                _raise_failed(f"send_message_batch {target}", resp)
                self.delete(source, [m.receipt_handle for m in group])
            return []

        return len(self._scan(source, max_messages, match, send_then_delete))

    def peek(self, queue: str, max_messages: int = 1000, *,
             match: MessageFilter | None = None) -> list[QueueMessage]:
        """Scan ``queue`` as :meth:`move` does, moving nothing: every message received is made
        visible again (``ChangeMessageVisibility`` 0) before returning. Each receive counts
        toward the queue's ``maxReceiveCount`` (none on the DLQ)."""
        return self._scan(queue, max_messages, match,
                          lambda msgs: [m.receipt_handle for m in msgs])

    def _scan(self, source: str, max_messages: int, match: MessageFilter | None,
              take: Callable[[list[QueueMessage]], list[str]]) -> list[QueueMessage]:
        """Receive from ``source`` until it answers empty or ``max_messages`` were taken;
        ``take`` gets each batch's matching messages and returns the receipt handles to make
        visible again; the non-matching ones are held until the end, then released."""
        held: list[str] = []
        taken: list[QueueMessage] = []
        seen: set[str] = set()
        try:
            while len(taken) < max_messages:
                want = SQS_BATCH if match else min(SQS_BATCH, max_messages - len(taken))
                batch = self.receive(source, max_messages=want,
                                     visibility_timeout_s=MOVE_VISIBILITY_S)
                if not batch:
                    break
                chosen: list[QueueMessage] = []
                for msg in batch:
                    fresh = msg.message_id not in seen
                    seen.add(msg.message_id)
                    if (fresh and len(taken) + len(chosen) < max_messages
                            and (match is None or match.matches(msg.attributes, msg.sent_at))):
                        chosen.append(msg)
                    else:
                        held.append(msg.receipt_handle)
                if chosen:
                    held.extend(take(chosen))
                    taken.extend(chosen)
        finally:
            self._release(source, held)
        return taken

    def _release(self, queue: str, receipt_handles: Sequence[str]) -> None:
        """``ChangeMessageVisibilityBatch`` to 0 in chunks of 10; stale handles ignored."""
        url = self._url(queue)
        for batch in chunks(list(receipt_handles)):
            entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                       for i, h in enumerate(batch)]
            resp = self._call(f"change_message_visibility_batch {queue}",
                              self._sqs.change_message_visibility_batch,
                              QueueUrl=url, Entries=entries)
            _raise_failed(f"change_message_visibility_batch {queue}", resp, STALE_HANDLE_CODES)

    def purge(self, queue: str) -> None:
        """``PurgeQueue``. AWS allows one purge per queue per 60 s; a second one fails with
        ``PurgeQueueInProgress`` (:class:`PermanentDependencyError`). moto has no such limit."""
        self._call(f"purge_queue {queue}", self._sqs.purge_queue, QueueUrl=self._url(queue))


def _to_sqs_attributes(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": str(value)}
            for name, value in attributes.items()}


def _from_sqs(queue: str, msg: Mapping[str, Any]) -> QueueMessage:
    system = msg.get("Attributes", {})
    attrs = {name: value.get("StringValue", "")
             for name, value in msg.get("MessageAttributes", {}).items()}
    return QueueMessage(queue=queue, message_id=msg["MessageId"],
                        receipt_handle=msg["ReceiptHandle"], body=msg.get("Body", ""),
                        attributes=attrs,
                        receive_count=int(system.get("ApproximateReceiveCount", 1)),
                        sent_at=int(system.get("SentTimestamp", 0)) / 1000.0)


def _raise_failed(what: str, resp: Mapping[str, Any],
                  ignore: frozenset[str] = frozenset()) -> None:
    """Raise for the failed entries of a batch response whose code is not in ``ignore``."""
    failed = [f for f in resp.get("Failed", []) if f.get("Code") not in ignore]
    if not failed:
        return
    first = failed[0]
    message = f"{what}: {len(failed)} entries failed, first {first.get('Code')}: " \
              f"{first.get('Message', '')}"
    if first.get("SenderFault"):
        raise PermanentDependencyError(message)
    raise DependencyError(message)
