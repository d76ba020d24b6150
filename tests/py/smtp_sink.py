"""A real SMTP server on loopback (aiosmtpd) that appends each message it
receives to a JSON-lines file: usage smtp_sink.py PORT OUTFILE [hostile].
hostile: offers AUTH and refuses every login with a reply that quotes the
credentials it was sent, decoded and as sent (base64)."""
import base64
import json
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out = int(sys.argv[1]), sys.argv[2]
hostile = len(sys.argv) > 3 and sys.argv[3] == "hostile"


def quote_and_refuse(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        user, pw = auth_data.login.decode(), auth_data.password.decode()
        raw = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
        msg = f"535 5.7.8 login {user} password {pw} ({raw}) refused"
    else:
        msg = "535 5.7.8 refused"
    return AuthResult(success=False, handled=False, message=msg)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"t": time.time(), "from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.content.decode("utf-8", "replace")}) + "\n")
        return "250 OK"


extra = {"authenticator": quote_and_refuse, "auth_require_tls": False} if hostile else {}
c = Controller(Handler(), hostname="127.0.0.1", port=port, **extra)
c.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    c.stop()
