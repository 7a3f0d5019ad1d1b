"""Notifiers: a JSON-lines log, e-mail through a local SMTP server, a webhook to a local server."""

import json
import socketserver
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ionrig.night.notify import (
    EmailNotifier,
    LogFileNotifier,
    Notice,
    WebhookNotifier,
    notify_all,
    read_notices,
)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._reply("220 localhost test SMTP")
        envelope = {"from": None, "to": []}
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 localhost")
            elif verb == "MAIL":
                envelope["from"] = command
                self._reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(command)
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with .")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.messages.append((envelope, data))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append((self.path, self.headers["Content-Type"], self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.received = received
    yield server
    server.shutdown()
    server.server_close()


SUSPENSION = Notice(
    "suspension",
    "bath temperature 27.1 °C is outside 20-26 °C",
    item="ratiometric_timecourse",
    t_s=312.5,
    details={"condition": "temperature", "value": 27.1},
)


def test_log_file_notifier_appends_json_lines_and_reads_them_back(tmp_path):
    path = tmp_path / "night.jsonl"
    log = LogFileNotifier(path)
    log(Notice("item_start", "queue item started", item="trpm7_ramps", t_s=1.0))
    log(SUSPENSION)
    with path.open("a") as file:
        file.write('{"kind": "fail')  # a line torn by a crash
    notices = read_notices(path)
    assert [n.kind for n in notices] == ["item_start", "suspension"]
    assert notices[1] == SUSPENSION
    assert read_notices(tmp_path / "absent.jsonl") == []


def test_email_notifier_delivers_alerts_through_smtp(smtp_server):
    port = smtp_server.server_address[1]
    mail = EmailNotifier(["night@lab.example"], smtp_host="127.0.0.1", smtp_port=port)
    mail(SUSPENSION)
    mail(Notice("item_end", "completed", item="wash"))  # not an alert by default: not sent
    assert len(smtp_server.messages) == 1
    envelope, data = smtp_server.messages[0]
    assert "night@lab.example" in envelope["to"][0]
    message = message_from_bytes(data)
    assert message["Subject"].startswith("ionrig suspension in ratiometric_timecourse")
    assert "rig clock 312.5 s" in message.get_payload()


def test_email_notifier_with_an_injected_sender_and_bad_input():
    sent = []
    mail = EmailNotifier("a@b.example", send=sent.append, kinds=["failure"])
    mail(SUSPENSION)
    mail(Notice("failure", "seal lost", item="record_cell"))
    assert [m["Subject"] for m in sent] == ["ionrig failure in record_cell: seal lost"]
    with pytest.raises(ValueError, match="e-mail address"):
        EmailNotifier("nobody")
    with pytest.raises(ValueError, match="kinds must be among"):
        EmailNotifier("a@b.example", kinds=["everything"])


def test_webhook_notifier_posts_json(webhook_server):
    url = f"http://127.0.0.1:{webhook_server.server_address[1]}/hooks/rig"
    hook = WebhookNotifier(url)
    hook(SUSPENSION)
    ((path, content_type, body),) = webhook_server.received
    assert path == "/hooks/rig" and content_type == "application/json"
    payload = json.loads(body)
    assert payload["kind"] == "suspension" and payload["t_s"] == 312.5
    assert payload["text"].startswith("ionrig suspension")
    with pytest.raises(ValueError, match="http"):
        WebhookNotifier("ftp://example")


def test_notify_all_survives_a_failing_notifier(tmp_path):
    def broken(notice):
        raise ConnectionRefusedError("mail server down")

    log = LogFileNotifier(tmp_path / "n.jsonl")
    errors = notify_all([broken, log], SUSPENSION)
    assert errors == ["notifier function failed: mail server down"]
    assert read_notices(tmp_path / "n.jsonl") == [SUSPENSION]
    with pytest.raises(ValueError, match="kind must be one of"):
        Notice("explosion", "?")
