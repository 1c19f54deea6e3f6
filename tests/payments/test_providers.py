"""The WeChat Pay and Alipay adapters, offline: keys generated here stand in for the merchant's
and the provider's, and the provider's side is played by functions that check our signatures
and sign their answers as the real services document it."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import secrets
import time
import zipfile
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from guahao.payments.interface import ProviderError
from guahao.payments.providers import alipay as alipay_module
from guahao.payments.providers import wechatpay as wechat_module
from guahao.payments.providers.alipay import AlipayProvider
from guahao.payments.providers.wechatpay import WechatPayProvider


@dataclass
class KeyPair:
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls) -> KeyPair:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, message: str) -> str:
        return base64.b64encode(self.private.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()

    def verifies(self, message: str, signature: str) -> bool:
        try:
            self.private.public_key().verify(
                base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return False
        return True


MERCHANT, PLATFORM, STRANGER = KeyPair.new(), KeyPair.new(), KeyPair.new()
APIV3_KEY = "0123456789abcdef0123456789abcdef"
PUBLIC_KEY_ID = "PUB_KEY_ID_0114232017452025071800"


# --- WeChat Pay ----------------------------------------------------------------------------------


@pytest.fixture
def wechat() -> WechatPayProvider:
    return WechatPayProvider(
        mch_id="1900000109",
        app_id="wxd678efh567hg6787",
        private_key=MERCHANT.private_pem,
        cert_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        apiv3_key=APIV3_KEY,
        public_key=PLATFORM.public_pem,
        public_key_id=PUBLIC_KEY_ID,
    )


def wechat_headers(body: str, *, key: KeyPair = PLATFORM, timestamp: int | None = None, serial: str = PUBLIC_KEY_ID):
    stamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(16)
    return {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": key.sign(f"{stamp}\n{nonce}\n{body}\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def wechat_notification(event_type: str, resource: dict) -> str:
    """A notification as WeChat Pay sends it: the resource sealed with the APIv3 key."""
    nonce, associated = secrets.token_hex(6), "transaction"
    sealed = AESGCM(APIV3_KEY.encode()).encrypt(nonce.encode(), json.dumps(resource).encode(), associated.encode())
    return json.dumps(
        {
            "id": f"EV-{secrets.token_hex(8)}",
            "create_time": "2026-11-22T10:00:05+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": associated,
                "nonce": nonce,
            },
        }
    )


PAID = {
    "mchid": "1900000109",
    "appid": "wxd678efh567hg6787",
    "out_trade_no": "GH20261122100000ABCDEF",
    "transaction_id": "4200001234202611221234567890",
    "trade_state": "SUCCESS",
    "success_time": "2026-11-22T10:00:04+08:00",
    "amount": {"total": 5100, "payer_total": 5100, "currency": "CNY"},
}


def test_wechat_notification_signed_by_the_platform_key_is_read(wechat):
    body = wechat_notification("TRANSACTION.SUCCESS", PAID)
    note = wechat.notification_verify(headers=wechat_headers(body), body=body.encode())
    assert note is not None and note.event_type == "TRANSACTION.SUCCESS" and note.mch_id == "1900000109"
    assert (note.order.out_trade_no, note.order.status, note.order.amount_fen) == (
        PAID["out_trade_no"],
        "SUCCESS",
        5100,
    )
    assert note.order.paid_at == dt.datetime(2026, 11, 22, 2, 0, 4, tzinfo=dt.UTC)


def test_wechat_notification_changed_forged_stale_or_foreign_is_refused(wechat, monkeypatch):
    body = wechat_notification("TRANSACTION.SUCCESS", PAID)
    headers = wechat_headers(body)
    changed = body.replace("2026-11-22T10:00:05", "2026-11-22T10:00:06")
    assert changed != body
    assert wechat.notification_verify(headers=headers, body=changed.encode()) is None
    assert wechat.notification_verify(headers=wechat_headers(body, key=STRANGER), body=body.encode()) is None
    stale = wechat_headers(body, timestamp=int(time.time()) - 600)
    assert wechat.notification_verify(headers=stale, body=body.encode()) is None
    # Another key id is refused without asking WeChat Pay for certificates.
    monkeypatch.setattr("requests.get", lambda *a, **k: pytest.fail("fetched certificates"))
    foreign = wechat_headers(body, serial="PUB_KEY_ID_SOMEONE_ELSE")
    assert wechat.notification_verify(headers=foreign, body=body.encode()) is None


def test_wechat_refund_notification_is_read(wechat):
    resource = {
        "mchid": "1900000109",
        "out_trade_no": PAID["out_trade_no"],
        "transaction_id": PAID["transaction_id"],
        "out_refund_no": "RF20261122110000ABCDEF",
        "refund_id": "50000000382019052709732678859",
        "refund_status": "SUCCESS",
        "success_time": "2026-11-22T11:00:00+08:00",
        "amount": {"total": 5100, "refund": 5100, "payer_total": 5100, "payer_refund": 5100},
    }
    body = wechat_notification("REFUND.SUCCESS", resource)
    note = wechat.notification_verify(headers=wechat_headers(body), body=body.encode())
    assert note.refund.out_refund_no == "RF20261122110000ABCDEF"
    assert (note.refund.status, note.refund.amount_fen) == ("SUCCESS", 5100)


class FakeWechatPay:
    """WeChat Pay's API as the SDK meets it through ``requests``: checks each request's merchant
    signature and signs each answer with the platform key."""

    def __init__(self) -> None:
        self.orders: dict[str, dict] = {}
        self.seen: list[str] = []
        self.key = PLATFORM  # what it signs its answers with

    def _check(self, method: str, url: str, headers: dict, body: str) -> None:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        auth = headers["Authorization"]
        assert auth.startswith("WECHATPAY2-SHA256-RSA2048 ")
        fields = dict(item.split("=", 1) for item in auth.split(" ", 1)[1].split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        message = f"{method}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
        assert fields["mchid"] == "1900000109" and MERCHANT.verifies(message, fields["signature"])
        self.seen.append(f"{method} {parts.path}")

    def _answer(self, status: int, data: dict | None):
        text = json.dumps(data) if data is not None else ""
        response = type("Response", (), {})()
        response.status_code, response.text, response.content = status, text, text.encode()
        response.headers = {"Content-Type": "application/json"} | wechat_headers(text, key=self.key)
        return response

    def post(self, url: str, json: dict | None = None, headers: dict | None = None, **_: object):
        import json as json_module

        body = json_module.dumps(json) if json else ""
        self._check("POST", url, headers or {}, body)
        if url.endswith("/v3/pay/transactions/native"):
            self.orders.setdefault(json["out_trade_no"], {"trade_state": "NOTPAY", "amount": json["amount"]})
            return self._answer(200, {"code_url": "weixin://wxpay/bizpayurl?pr=abc123"})
        return self._answer(404, {"code": "NOT_FOUND", "message": url})

    def get(self, url: str, headers: dict | None = None, **_: object):
        self._check("GET", url, headers or {}, "")
        number = urlsplit(url).path.rsplit("/", 1)[-1]
        if number not in self.orders:
            return self._answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        return self._answer(200, {"out_trade_no": number, "mchid": "1900000109"} | self.orders[number])


def test_wechat_requests_are_signed_by_the_merchant_and_answers_checked(wechat, monkeypatch):
    server = FakeWechatPay()
    monkeypatch.setattr("wechatpayv3.core.requests.post", server.post)
    monkeypatch.setattr("wechatpayv3.core.requests.get", server.get)
    order = wechat.order_create(
        out_trade_no="GH1", amount_fen=5100, description="挂号费", notify_url="https://guahao.example/n"
    )
    assert (order.status, order.pay_url) == ("NOTPAY", "weixin://wxpay/bizpayurl?pr=abc123")
    assert server.seen == ["POST /v3/pay/transactions/native", "GET /v3/pay/transactions/out-trade-no/GH1"]
    assert wechat.order_query(out_trade_no="nope") is None

    # An answer not signed by the platform key is not believed.
    server.key = STRANGER
    with pytest.raises(ProviderError):
        wechat.order_query(out_trade_no="GH1")


def _ticked(row: str) -> str:
    """Each field of a WeChat bill row comes after a backtick."""
    return ",".join(f"`{value}" for value in row.split(","))


def test_wechat_trade_bill_lists_payments_and_refunds():
    header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
    pay = "2026-11-21 09:12:01,wx1,1900000109,0,,4200001,GH1,o1,NATIVE,SUCCESS,CMB_DEBIT,CNY,51.00,0.00,0,0,"
    pay += "0.00,0.00,,,挂号费,,0.31000,0.60%,51.00,0.00,"
    refund = "2026-11-21 15:00:00,wx1,1900000109,0,,4200001,GH1,o1,NATIVE,REFUND,CMB_DEBIT,CNY,0.00,0.00,5000001,"
    refund += "RF1,51.00,0.00,ORIGINAL,PROCESSING,挂号费,,-0.31000,0.60%,0.00,51.00,"
    summary = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    summary += "`2,`51.00,`51.00,`0.00,`0.00000,`51.00,`51.00"
    text = "\n".join([header, _ticked(pay), _ticked(refund), summary])
    lines = wechat_module.parse_trade_bill(text)
    assert [(line.kind, line.out_trade_no, line.out_refund_no, line.amount_fen, line.status) for line in lines] == [
        ("payment", "GH1", "", 5100, "SUCCESS"),
        ("refund", "GH1", "RF1", 5100, "PROCESSING"),
    ]
    assert lines[0].at == dt.datetime(2026, 11, 21, 1, 12, 1, tzinfo=dt.UTC)
    assert gzip.decompress(gzip.compress(text.encode())).decode() == text  # what statement() unpacks


# --- Alipay --------------------------------------------------------------------------------------

APP, ALIPAY_KEY = KeyPair.new(), KeyPair.new()


@pytest.fixture
def ali() -> AlipayProvider:
    return AlipayProvider(
        app_id="2021000000000001", app_private_key=APP.private_pem, alipay_public_key=ALIPAY_KEY.public_pem
    )


def alipay_form(data: dict, *, key: KeyPair = ALIPAY_KEY) -> bytes:
    """A notification as Alipay posts it: the sorted fields signed with RSA2."""
    message = "&".join(f"{k}={v}" for k, v in sorted(data.items()))
    return urlencode(data | {"sign": key.sign(message), "sign_type": "RSA2"}).encode()


TRADE = {
    "notify_id": "2026112200222100005063950549681903",
    "notify_type": "trade_status_sync",
    "notify_time": "2026-11-22 10:00:06",
    "app_id": "2021000000000001",
    "out_trade_no": "GH20261122100000ABCDEF",
    "trade_no": "2026112222001463951413050451",
    "trade_status": "TRADE_SUCCESS",
    "total_amount": "51.00",
    "gmt_payment": "2026-11-22 10:00:05",
    "charset": "utf-8",
}


def test_alipay_notification_signed_by_alipay_is_read(ali):
    note = ali.notification_verify(headers={}, body=alipay_form(TRADE))
    assert note is not None and (note.event_type, note.mch_id, note.id) == (
        "TRANSACTION.SUCCESS",
        "2021000000000001",
        TRADE["notify_id"],
    )
    assert (note.order.out_trade_no, note.order.amount_fen) == (TRADE["out_trade_no"], 5100)
    assert note.order.paid_at == dt.datetime(2026, 11, 22, 2, 0, 5, tzinfo=dt.UTC)


def test_alipay_notification_changed_or_forged_is_refused(ali):
    form = alipay_form(TRADE)
    changed = form.replace(b"total_amount=51.00", b"total_amount=0.01")
    assert ali.notification_verify(headers={}, body=changed) is None
    assert ali.notification_verify(headers={}, body=alipay_form(TRADE, key=STRANGER)) is None
    assert ali.notification_verify(headers={}, body=urlencode(TRADE).encode()) is None  # unsigned


def test_alipay_refund_notification_is_read(ali):
    refund = TRADE | {"trade_status": "TRADE_CLOSED", "out_biz_no": "RF1", "refund_fee": "51.00"}
    refund["gmt_refund"] = "2026-11-22 11:00:00"
    note = ali.notification_verify(headers={}, body=alipay_form(refund))
    assert (note.event_type, note.refund.out_refund_no, note.refund.amount_fen) == ("REFUND.SUCCESS", "RF1", 5100)


def test_alipay_cashier_url_is_signed_with_the_app_key(ali):
    order = ali.order_create(
        out_trade_no="GH1", amount_fen=5100, description="挂号费", notify_url="https://g.example/n"
    )
    params = dict(parse_qsl(urlsplit(order.pay_url).query))
    signature = params.pop("sign")
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    assert APP.verifies(message, signature)
    assert json.loads(params["biz_content"])["total_amount"] == "51.00"
    assert params["method"] == "alipay.trade.wap.pay" and params["notify_url"] == "https://g.example/n"


def _alipay_answer(kind: str, data: dict, key: KeyPair = ALIPAY_KEY):
    inner = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    text = f'{{"{kind}":{inner},"sign":"{key.sign(inner)}"}}'
    return lambda url, timeout=None: io.BytesIO(text.encode())


def test_alipay_answers_are_checked_and_mapped(ali, monkeypatch):
    answer = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": "GH1",
        "trade_no": "2026",
        "trade_status": "TRADE_SUCCESS",
    }
    answer |= {"total_amount": "51.00", "send_pay_date": "2026-11-22 10:00:05"}
    monkeypatch.setattr("alipay.urlopen", _alipay_answer("alipay_trade_query_response", answer))
    state = ali.order_query(out_trade_no="GH1")
    assert (state.status, state.amount_fen, state.transaction_id) == ("SUCCESS", 5100, "2026")

    refunded = answer | {"trade_status": "TRADE_CLOSED"}
    monkeypatch.setattr("alipay.urlopen", _alipay_answer("alipay_trade_query_response", refunded))
    assert ali.order_query(out_trade_no="GH1").status == "REFUND"

    missing = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}
    monkeypatch.setattr("alipay.urlopen", _alipay_answer("alipay_trade_query_response", missing))
    assert ali.order_query(out_trade_no="GH1") is None

    monkeypatch.setattr("alipay.urlopen", _alipay_answer("alipay_trade_query_response", answer, key=STRANGER))
    with pytest.raises(ProviderError):
        ali.order_query(out_trade_no="GH1")


def test_alipay_trade_bill_lists_payments_and_refunds():
    text = "\n".join(
        [
            "#支付宝业务明细查询",
            "#账号：[20880000000000000156]",
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
            "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
            "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
            "2026112222001,GH1,交易,挂号费,2026-11-21 09:12:00,2026-11-21 09:12:05,,,,,a***@x.cn,"
            "51.00,51.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.31,0.00,",
            "2026112222001,GH1,退款,挂号费,2026-11-21 15:00:00,2026-11-21 15:00:01,,,,,a***@x.cn,"
            "-51.00,-51.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,RF1,0.31,0.00,",
            "#-----------------------------------------业务明细列表结束------------------------------------",
        ]
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("20880000000000000156_20261121_业务明细.csv", text.encode("gb18030"))
        bundle.writestr("20880000000000000156_20261121_业务明细(汇总).csv", "#汇总".encode("gb18030"))
    lines = alipay_module.parse_trade_bill(archive.getvalue())
    assert [(line.kind, line.out_trade_no, line.out_refund_no, line.amount_fen) for line in lines] == [
        ("payment", "GH1", "", 5100),
        ("refund", "GH1", "RF1", 5100),
    ]


def test_a_method_without_a_configured_provider_is_refused_by_name(settings):
    from guahao.core.problems import Problem
    from guahao.payments.providers import registry

    settings.PAYMENT_PROVIDER = "live"
    settings.ALIPAY = {"app_id": "2021000000000001", "app_private_key": APP.private_pem}
    settings.ALIPAY |= {"alipay_public_key": ALIPAY_KEY.public_pem, "sandbox": False}
    assert registry.provider_for("alipay").name == "alipay"
    with pytest.raises(Problem) as refused:
        registry.provider_for("wechat")
    assert (refused.value.code, refused.value.as_dict()["field"]) == ("payment.method_unavailable", "payment_method")
    assert registry.configured() == ["alipay"]
