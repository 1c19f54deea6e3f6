"""Fakes of the providers' HTTP APIs, each checking a request as the provider would (signature,
token, parameters, field sizes) and keeping what it accepted, so a test can count what a
patient received. They run on the loopback in a thread of the test process, so a worker in
another process (the kill -9 tests) reaches them too."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serving(handler_class: type[BaseHTTPRequestHandler], state: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    @property
    def state(self) -> Any:
        return self.server.state  # type: ignore[attr-defined]

    def answer(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


# --- WeChat ---------------------------------------------------------------------------------------

WECHAT_LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32}


@dataclass
class Wechat:
    """One official account: its AppID and secret, the templates it has, the openids that
    subscribed, the web authorisation codes it issued."""

    app_id: str = "wx0123456789abcdef"
    secret: str = "wechat-app-secret-for-tests"
    templates: dict[str, list[str]] = field(default_factory=dict)  # template id -> its field names
    subscribed: set[str] = field(default_factory=set)
    codes: dict[str, str] = field(default_factory=dict)  # code -> openid
    tokens: set[str] = field(default_factory=set)
    sent: list[dict] = field(default_factory=list)
    token_requests: int = 0
    fail_next: list[int] = field(default_factory=list)  # errcodes to answer the next sends with
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_tokens(self) -> None:
        self.tokens.clear()


class WechatHandler(_Handler):
    def do_POST(self) -> None:
        s: Wechat = self.state
        path, _, query = self.path.partition("?")
        try:
            body = json.loads(self.body() or b"{}")
        except ValueError:
            return self.answer(200, {"errcode": 47001, "errmsg": "data format error"})
        if path == "/cgi-bin/stable_token":
            with s.lock:
                s.token_requests += 1
                if body.get("grant_type") != "client_credential" or body.get("appid") != s.app_id:
                    return self.answer(200, {"errcode": 40013, "errmsg": "invalid appid"})
                if body.get("secret") != s.secret:
                    return self.answer(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
                token = f"TOKEN{len(s.tokens) + s.token_requests}"
                s.tokens.add(token)
            return self.answer(200, {"access_token": token, "expires_in": 7200})
        if path == "/cgi-bin/message/subscribe/bizsend":
            token = urllib.parse.parse_qs(query).get("access_token", [""])[0]
            with s.lock:
                if token not in s.tokens:
                    return self.answer(200, {"errcode": 40001, "errmsg": "invalid credential"})
                if s.fail_next:
                    code = s.fail_next.pop(0)
                    return self.answer(200, {"errcode": code, "errmsg": "failed on purpose"})
                fields = s.templates.get(body.get("template_id", ""))
                if fields is None:
                    return self.answer(200, {"errcode": 40037, "errmsg": "invalid template_id"})
                if body.get("touser") not in s.subscribed:
                    return self.answer(200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"})
                data = body.get("data") or {}
                if sorted(data) != sorted(fields):
                    return self.answer(200, {"errcode": 47003, "errmsg": "argument invalid! data.keys"})
                for name, value in data.items():
                    limit = WECHAT_LIMITS.get(name.rstrip("0123456789"))
                    text = value.get("value") if isinstance(value, dict) else None
                    if not isinstance(text, str) or not text or (limit and len(text) > limit):
                        return self.answer(200, {"errcode": 47003, "errmsg": f"argument invalid! data.{name}.value"})
                s.sent.append(body)
                msgid = 1000 + len(s.sent)
            return self.answer(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})
        self.answer(404, {"errcode": -1, "errmsg": "no such api"})

    def do_GET(self) -> None:
        s: Wechat = self.state
        path, _, query = self.path.partition("?")
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        if path == "/sns/oauth2/access_token":
            if q.get("appid") != s.app_id or q.get("secret") != s.secret:
                return self.answer(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
            if q.get("grant_type") != "authorization_code":
                return self.answer(200, {"errcode": 40002, "errmsg": "invalid grant_type"})
            openid = s.codes.pop(q.get("code", ""), None)  # a code is good once
            if openid is None:
                return self.answer(200, {"errcode": 40029, "errmsg": "invalid code"})
            return self.answer(
                200, {"access_token": "web", "expires_in": 7200, "openid": openid, "scope": "snsapi_base"}
            )
        self.answer(404, {"errcode": -1, "errmsg": "no such api"})


# --- Aliyun SMS (Dysmsapi 2017-05-25, signature V3: ACS3-HMAC-SHA256) ----------------------------


@dataclass
class Aliyun:
    access_key_id: str = "LTAI-test-key"
    access_key_secret: str = "aliyun-secret-for-tests"
    signs: set[str] = field(default_factory=lambda: {"仁和医院", "挂号平台"})
    templates: dict[str, list[str]] = field(default_factory=dict)  # code -> its variables
    sent: list[dict] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    fail_next: list[str] = field(default_factory=list)  # Codes to answer the next sends with
    lock: threading.Lock = field(default_factory=threading.Lock)


def _encode(value: str) -> str:
    return urllib.parse.quote(value, safe="~")


def acs3_signature(
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    signed: list[str],
    payload_hash: str,
    secret: str,
) -> str:
    """Aliyun's V3 signature, written from its documentation (not the SDK's code)."""
    canonical_query = "&".join(f"{_encode(k)}={_encode(query[k])}" for k in sorted(query))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    canonical = "\n".join([method, path or "/", canonical_query, canonical_headers, ";".join(signed), payload_hash])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class AliyunHandler(_Handler):
    def do_POST(self) -> None:
        s: Aliyun = self.state
        payload = self.body()
        path, _, raw_query = self.path.partition("?")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        refused = self._check_signature(s, path, query, headers, payload)
        if refused:
            return self.answer(400, {"Code": refused, "Message": refused, "RequestId": "fake"})
        action = headers.get("x-acs-action")
        if headers.get("x-acs-version") != "2017-05-25":
            return self.answer(400, {"Code": "InvalidVersion", "Message": "version", "RequestId": "fake"})
        if action == "SendSms":
            return self.answer(200, self._send(s, query))
        if action == "QuerySendDetails":
            return self.answer(200, self._query(s, query))
        self.answer(404, {"Code": "InvalidAction.NotFound", "Message": "action", "RequestId": "fake"})

    def _check_signature(self, s: Aliyun, path: str, query: dict, headers: dict, payload: bytes) -> str:
        auth = headers.get("authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            return "IncompleteSignature"
        parts = dict(p.split("=", 1) for p in auth[len("ACS3-HMAC-SHA256 ") :].split(","))
        if parts.get("Credential") != s.access_key_id:
            return "InvalidAccessKeyId.NotFound"
        signed = parts.get("SignedHeaders", "").split(";")
        if not {
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-version",
        } <= set(signed):
            return "IncompleteSignature"
        if hashlib.sha256(payload).hexdigest() != headers.get("x-acs-content-sha256"):
            return "InvalidContentSha256"
        try:
            when = calendar.timegm(time.strptime(headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return "InvalidTimeStamp.Format"
        if abs(time.time() - when) > 15 * 60:  # the provider's own clock
            return "InvalidTimeStamp.Expired"
        expected = acs3_signature(
            "POST", path, query, headers, signed, headers["x-acs-content-sha256"], s.access_key_secret
        )
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return "SignatureDoesNotMatch"
        with s.lock:
            nonce = headers["x-acs-signature-nonce"]
            if nonce in s.nonces:
                return "SignatureNonceUsed"
            s.nonces.add(nonce)
        return ""

    def _send(self, s: Aliyun, q: dict) -> dict:
        phone = q.get("PhoneNumbers", "")
        if not (phone.isdigit() and len(phone) == 11 and phone.startswith("1")):
            return {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "mobile", "RequestId": "fake"}
        if q.get("SignName") not in s.signs:
            return {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "sign", "RequestId": "fake"}
        variables = s.templates.get(q.get("TemplateCode", ""))
        if variables is None:
            return {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "template", "RequestId": "fake"}
        try:
            params = json.loads(q.get("TemplateParam") or "{}")
        except ValueError:
            return {"Code": "isv.INVALID_JSON_PARAM", "Message": "json", "RequestId": "fake"}
        if sorted(params) != sorted(variables):
            return {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "params", "RequestId": "fake"}
        if any(len(str(v)) > 35 for v in params.values()):
            return {"Code": "isv.PARAM_LENGTH_LIMIT", "Message": "length", "RequestId": "fake"}
        with s.lock:
            if s.fail_next:
                code = s.fail_next.pop(0)
                return {"Code": code, "Message": "failed on purpose", "RequestId": "fake"}
            biz = f"{len(s.sent) + 1}^0"
            s.sent.append(
                {
                    "phone": phone,
                    "sign": q["SignName"],
                    "template": q["TemplateCode"],
                    "params": params,
                    "out_id": q.get("OutId", ""),
                    "biz_id": biz,
                }
            )
        return {"Code": "OK", "Message": "OK", "BizId": biz, "RequestId": "fake"}

    def _query(self, s: Aliyun, q: dict) -> dict:
        phone = q.get("PhoneNumber", "")
        if not q.get("SendDate") or not q.get("PageSize") or not q.get("CurrentPage"):
            return {"Code": "isv.INVALID_PARAMETERS", "Message": "params", "RequestId": "fake"}
        found = [m for m in s.sent if m["phone"] == phone]
        size, page = int(q["PageSize"]), int(q["CurrentPage"])
        shown = found[(page - 1) * size : page * size]
        dtos = [
            {
                "PhoneNum": m["phone"],
                "SendStatus": 3,
                "TemplateCode": m["template"],
                "OutId": m["out_id"],
                "Content": "",
                "ErrCode": "DELIVERED",
            }
            for m in shown
        ]
        return {
            "Code": "OK",
            "Message": "OK",
            "RequestId": "fake",
            "TotalCount": len(found),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": dtos},
        }
