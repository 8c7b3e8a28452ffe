"""Channel adapters against real local servers (T25 "联得通"): e-mail to a real SMTP server
(aiosmtpd) started here, and the SMS adapter against a local HTTP gateway that checks the
signature, dedups by out_id and fails the first requests on purpose (tests/app/smsgateway.py).
Retried, delivered exactly once; a refusal is permanent; the outbox keeps its reason."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

from app.channels import InAppSender, SmsSender, SmtpSender, inbox
from app.services import free_port
from incidents import keys
from incidents.notify import Contacts, Message, NotifyConfig, NotifyWorker, Outbox
from incidents.notify.model import PermanentError, TransientError
from tests.app.smsgateway import APP_KEY, SECRET, Gateway


class Mailbox:
    """aiosmtpd handler: keeps what arrives; refuses recipients at refused.example (550)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.arrived = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802
        if address.endswith("@refused.example"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.arrived.set()
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    yield box, port
    ctl.stop()


def _msg(did: str, address: str, **kw: object) -> Message:
    base = {"did": did, "event": "inc:1:T01", "chain": "inc:1:T01", "person": "duty-a",
            "channel": "sms", "address": address, "subject": "【较大】新事件：道路积水",
            "body": "道路积水（1）已到T01，请及时处置。", "params": {"id": "1", "title": "道路积水"}}
    return Message(**{**base, **kw})  # type: ignore[arg-type]


def test_email_reaches_a_real_smtp_server(smtp, redis_client) -> None:
    box, port = smtp
    box.messages.clear()
    sender = SmtpSender("127.0.0.1", port, "onemap@city.example")
    # through the outbox and the worker: the recipient comes from the person's contact
    Contacts(redis_client).set("duty-a", name="值班员甲", email="duty-a@city.example")
    Contacts(redis_client).set("duty-b", email="nobody@refused.example")
    out = Outbox(redis_client)
    ok = out.enqueue("inc:7:T01", "duty-a", "email", subject="【较大】新事件：道路积水", body="请处置")
    bad = out.enqueue("inc:7:T01", "duty-b", "email", subject="x", body="y")
    worker = NotifyWorker(redis_client, {"email": sender}, config=NotifyConfig(quiet_hours=(0, 0)),
                          watch_feed=False)
    worker.ensure_groups()
    worker.drain()
    assert box.arrived.wait(10)
    assert len(box.messages) == 1
    mail_from, rcpts, raw = box.messages[0]
    parsed = message_from_bytes(raw)
    assert mail_from == "onemap@city.example" and rcpts == ["duty-a@city.example"]
    assert str(make_header(decode_header(parsed["Subject"]))) == "【较大】新事件：道路积水"
    assert parsed["Message-ID"] == f"<{ok}@onemap>"
    assert out.delivery(ok)["status"] == "sent"
    # a 550 refusal is permanent: given up at once, kept with the server's words
    d = out.delivery(bad)
    assert d["status"] == "failed" and "refused" in d["reason"]
    assert redis_client.xlen(keys.NOTIFY_FAILED) == 1
    # nobody listening: a transient failure (retried by the outbox), not a crash
    with pytest.raises(TransientError):
        SmtpSender("127.0.0.1", free_port()).send(_msg("x", "a@city.example", channel="email"))


def test_sms_retries_a_failing_gateway_and_sends_once() -> None:
    waits: list[float] = []
    with Gateway(fail_first=2) as gw:
        sms = SmsSender(gw.url, APP_KEY, SECRET, sign_name="高州城运", retries=4, backoff_s=0.25,
                        sleep=waits.append)
        biz = sms.send(_msg("d-1", "13800000001"))
        assert biz == "biz-1"
        assert waits == [0.25, 0.5]                       # backoff between the failed tries
        assert gw.state.failed_on_purpose == 2 and gw.state.refused == []
        sent = gw.state.sent["d-1"]
        assert sent["phone"] == "13800000001" and sent["sign_name"] == "高州城运"
        assert sent["template_id"] == "SMS_NOTICE" and sent["params"]["title"] == "道路积水"
        # the same delivery again (a resend after a crash): the gateway answers, sends nothing
        assert sms.send(_msg("d-1", "13800000001")) == "biz-1"
        assert len(gw.state.sent) == 1 and gw.state.repeats == {"d-1": 1}
        # a gateway failing longer than the adapter retries: transient, for the outbox to retry
        gw.state.fail_first = 10
        with pytest.raises(TransientError):
            sms.send(_msg("d-2", "13800000002"))
        assert "d-2" not in gw.state.sent
        # a wrong secret: the gateway refuses the signature, for good
        gw.state.fail_first = 0
        with pytest.raises(PermanentError, match="SIGN_ERROR"):
            SmsSender(gw.url, APP_KEY, "wrong", sleep=waits.append).send(_msg("d-3", "13800000003"))
        assert gw.state.refused == ["sign"] and "d-3" not in gw.state.sent


def test_outbox_retries_sms_with_backoff_until_delivered_once(redis_client) -> None:
    t = [1_795_000_000.0]
    with Gateway(fail_first=5) as gw:
        sms = SmsSender(gw.url, APP_KEY, SECRET, retries=2, sleep=lambda s: None)
        Contacts(redis_client).set("duty-a", phone="13800000009")
        worker = NotifyWorker(redis_client, {"sms": sms, "inapp": InAppSender(redis_client)},
                              config=NotifyConfig(quiet_hours=(0, 0), retry_s=(10.0, 30.0, 60.0)),
                              clock=lambda: t[0], watch_feed=False)
        worker.ensure_groups()
        did = worker.outbox.enqueue("inc:9:T01", "duty-a", "sms", subject="s", body="b",
                                    params={"id": "9"})
        worker.outbox.enqueue("inc:9:T01", "duty-a", "sms", subject="s", body="b")  # dedup
        worker.drain()
        assert worker.outbox.delivery(did)["status"] == "retry"     # 2 tries failed
        t[0] += 10
        worker.drain()
        assert worker.outbox.delivery(did)["status"] == "retry"     # 4 tries failed
        t[0] += 30
        worker.drain()
        d = worker.outbox.delivery(did)
        assert d["status"] == "sent" and d["attempts"] == "3"
        assert list(gw.state.sent) == [did] and gw.state.repeats == {}
        sends = [e for e in worker.outbox.audit_entries() if e.get("did") == did]
        assert [e["what"] for e in sends] == ["queued", "sending", "retry", "sending", "retry",
                                              "sending", "sent"]
    assert inbox(redis_client, "duty-a") == []      # only the channel asked for
