"""A small fake Telegram Bot API over real HTTP, for driving the bot end to end in tests and benches.

It serves the methods the bot uses, long-polls getUpdates, records every call, checks what it is
sent the way Telegram does (HTML that parses, at most 4,096 characters after entity parsing, button
data within 64 bytes) and can answer the next calls of a method with a 429 or a 5xx.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

TOKEN = "1234567:AAFakeTokenForTestsOnly-0123456789ab"
BOT_ID = int(TOKEN.partition(":")[0])
LIMIT = 4096
TEXT_FIELDS = {"text", "parse_mode", "action", "callback_query_id", "url", "caption"}
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"}
COMMAND = re.compile(r"[a-z0-9_]{1,32}")
ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}


class BadRequest(Exception):
    """A 400 with Telegram's description."""


@dataclass
class Call:
    method: str
    params: dict
    status: int
    result: object
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self):
        return self.params.get("chat_id")


class _TelegramHTML(HTMLParser):
    """Telegram's HTML rules, strictly: known tags only, balanced, no bare `<`; 4 named entities."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS:
            raise BadRequest(f'can\'t parse entities: Unsupported start tag "{tag}"')
        if tag == "span" and ("class", "tg-spoiler") not in attrs:
            raise BadRequest('can\'t parse entities: Tag "span" must have class "tg-spoiler"')
        self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        raise BadRequest(f'can\'t parse entities: Unsupported start tag "{tag}/"')

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            raise BadRequest(f'can\'t parse entities: Unmatched end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data):
        if "<" in data:
            raise BadRequest("can't parse entities: Unexpected '<' that does not start a tag")
        self.text.append(data)

    def handle_entityref(self, name):
        self.text.append(unescape(f"&{name};") if name in ("lt", "gt", "amp", "quot") else f"&{name};")

    def handle_charref(self, name):
        self.text.append(unescape(f"&#{name};"))

    def unknown_decl(self, data):
        raise BadRequest("can't parse entities: Unsupported declaration")

    handle_comment = handle_decl = handle_pi = unknown_decl


def parse_html(text: str) -> str:
    """The plain text Telegram would show for `text` in HTML parse mode; BadRequest if it would refuse it."""
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise BadRequest(f"can't parse entities: Can't find end tag corresponding to start tag \"{parser.open[-1]}\"")
    return "".join(parser.text)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeBotAPI:
    """Start with `with FakeBotAPI() as api:`; point the bot at `api.url`."""

    def __init__(self, token: str = TOKEN, username: str = "articles_test_bot", port: int = 0):
        self.token, self.username = token, username
        self.me = {"id": BOT_ID, "is_bot": True, "first_name": "Articles", "username": username, "can_join_groups": True}
        self.calls: list[Call] = []
        self._updates: list[dict] = []
        self._messages: dict[tuple[int, int], dict] = {}
        self._chats: dict[int, dict] = {}
        self._failures: dict[str, list[tuple[int, int | None]]] = {}
        self._weather: list[tuple[str, float, int, float, int | None]] = []  # method, share, status, until, retry_after
        self._random = random.Random(7)
        self._ids = itertools.count(1)
        self._files: dict[str, bytes] = {}
        self._closed = False
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeBotAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # --- what a test does -----------------------------------------------------------------------

    def send(self, chat_id: int, text: str, user_id: int | None = None, chat_type: str | None = None, reply_to: dict | None = None) -> dict:
        """A user's text message, with bot_command and mention entities as Telegram would add them."""
        message = self._message(chat_id, user_id, chat_type)
        message["text"] = text
        entities = [
            {
                "type": "bot_command" if m.group().startswith("/") else "mention",
                "offset": utf16_length(text[: m.start()]),
                "length": utf16_length(m.group()),
            }
            for m in re.finditer(r"^/\w+(?:@\w+)?|@\w{5,32}", text)
        ]
        if entities:
            message["entities"] = entities
        if reply_to:
            message["reply_to_message"] = reply_to
        self._push({"message": message})
        return message

    def _message(self, chat_id: int, user_id: int | None, chat_type: str | None = None) -> dict:
        user_id = user_id or abs(chat_id)
        chat = {"id": chat_id, "type": chat_type or ("private" if chat_id > 0 else "supergroup")}
        if chat["type"] != "private":
            chat["title"] = f"Group {chat_id}"
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
        }
        with self._cond:
            self._chats[chat_id] = chat
            self._messages[(chat_id, message["message_id"])] = message
        return message

    def send_document(self, chat_id: int, name: str, data: bytes, user_id: int | None = None, size: int | None = None) -> dict:
        """A user sending a file; `size` overrides the size Telegram reports (to test limits cheaply)."""
        file_id = f"doc{next(self._ids)}"
        with self._cond:
            self._files[file_id] = data
        message = self._message(chat_id, user_id)
        message["document"] = {"file_id": file_id, "file_unique_id": file_id, "file_name": name, "file_size": size or len(data)}
        self._push({"message": message})
        return message

    def press(self, message: dict, data: str, user_id: int | None = None) -> None:
        """A user pressing an inline button under one of the bot's messages."""
        user_id = user_id or abs(message["chat"]["id"])
        self._push(
            {
                "callback_query": {
                    "id": str(next(self._ids)),
                    "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
                    "message": message,
                    "chat_instance": str(message["chat"]["id"]),
                    "data": data,
                }
            }
        )

    def fail_next(self, method: str, times: int = 1, status: int = 429, retry_after: int | None = 1) -> None:
        """Answer the next `times` calls of `method` with `status` (429: with parameters.retry_after)."""
        with self._cond:
            self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def fail_randomly(self, method: str, share: float, status: int, seconds: float, retry_after: int | None = None) -> None:
        """For the next `seconds`, answer a random `share` of `method` calls with `status` (seeded)."""
        with self._cond:
            self._weather.append((method, share, status, time.monotonic() + seconds, retry_after))

    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Call]:
        """Successful calls of `method` (to `chat_id`), in order."""
        with self._cond:
            return [c for c in self.calls if c.method == method and c.status == 200 and (chat_id is None or c.chat_id == chat_id)]

    def failed(self) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.status != 200]

    def _push(self, update: dict) -> None:
        with self._cond:
            self._updates.append({"update_id": next(self._ids), **update})
            self._cond.notify_all()

    # --- the API --------------------------------------------------------------------------------

    def handle(self, method: str, params: dict) -> tuple[int, dict]:
        with self._cond:
            failures = self._failures.get(method)
            now = time.monotonic()
            weather = [
                (st, ra) for m, share, st, until, ra in self._weather if m == method and now < until and self._random.random() < share
            ]
            if failures or weather:
                status, retry_after = failures.pop(0) if failures else weather[0]
                description = f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Gateway"
                body = {"ok": False, "error_code": status, "description": description}
                if status == 429:
                    body["parameters"] = {"retry_after": retry_after}
                return self._record(method, params, status, body)
        action = getattr(self, f"api_{method}", None)
        if action is None:
            return self._record(method, params, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            result = action(params)
        except BadRequest as exc:
            return self._record(method, params, 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
        return self._record(method, params, 200, {"ok": True, "result": result})

    def _record(self, method: str, params: dict, status: int, body: dict) -> tuple[int, dict]:
        with self._cond:
            self.calls.append(Call(method, params, status, body.get("result", body)))
            self._cond.notify_all()
        return status, body

    def api_getMe(self, params):
        return self.me

    def api_getFile(self, params):
        data = self._files.get(params.get("file_id"))
        if data is None:
            raise BadRequest("invalid file_id")
        if len(data) > 20 * 1024 * 1024:
            raise BadRequest("file is too big")
        return {
            "file_id": params["file_id"],
            "file_unique_id": params["file_id"],
            "file_size": len(data),
            "file_path": f"documents/{params['file_id']}",
        }

    def download(self, path: str) -> bytes | None:
        match = re.fullmatch(rf"/file/bot{re.escape(self.token)}/documents/(\w+)", path)
        return self._files.get(match.group(1)) if match else None

    def api_deleteWebhook(self, params):
        return True

    def api_setMyCommands(self, params):
        for command in params.get("commands", []):
            if not COMMAND.fullmatch(command.get("command", "")) or not 1 <= len(command.get("description", "")) <= 256:
                raise BadRequest("BOT_COMMAND_INVALID")
        return True

    def api_getUpdates(self, params):
        offset, timeout = int(params.get("offset", 0)), float(params.get("timeout", 0))
        deadline = time.monotonic() + timeout
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]  # below offset: confirmed
            while not self._updates and not self._closed and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return self._updates[: int(params.get("limit", 100))]

    def api_sendChatAction(self, params):
        self._chat(params)
        if params.get("action") not in ACTIONS:
            raise BadRequest("wrong parameter action in request")
        return True

    def api_sendMessage(self, params):
        chat = self._chat(params)
        text = self._text(params)
        reply = params.get("reply_parameters")
        if reply is None and "reply_to_message_id" in params:
            reply = {"message_id": params["reply_to_message_id"]}
        message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat, "from": self.me, "text": text}
        with self._cond:
            if reply:
                replied = self._messages.get((chat["id"], reply["message_id"]))
                if replied is None and not reply.get("allow_sending_without_reply"):
                    raise BadRequest("message to be replied not found")
                if replied:
                    message["reply_to_message"] = replied
            if "reply_markup" in params:
                message["reply_markup"] = self._markup(params["reply_markup"])
            self._messages[(chat["id"], message["message_id"])] = message
        return message

    def api_editMessageText(self, params):
        chat = self._chat(params)
        text = self._text(params)
        with self._cond:
            message = self._messages.get((chat["id"], int(params.get("message_id", 0))))
            if message is None or message["from"]["id"] != BOT_ID:
                raise BadRequest("message to edit not found")
            markup = self._markup(params["reply_markup"]) if "reply_markup" in params else None
            if message["text"] == text and message.get("reply_markup") == markup:
                raise BadRequest(
                    "message is not modified: specified new message content and reply markup are exactly the same "
                    "as a current content and reply markup of the message"
                )
            message["text"] = text
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            return message

    def api_answerCallbackQuery(self, params):
        if len(params.get("text", "")) > 200:
            raise BadRequest("MESSAGE_TOO_LONG")
        return True

    def _chat(self, params) -> dict:
        with self._cond:
            chat = self._chats.get(params.get("chat_id"))
        if chat is None:
            raise BadRequest("chat not found")
        return chat

    @staticmethod
    def _text(params) -> str:
        text = params.get("text", "")
        plain = parse_html(text) if str(params.get("parse_mode", "")).upper() == "HTML" else text
        if not plain.strip():
            raise BadRequest("message text is empty")
        if utf16_length(plain.strip()) > LIMIT:
            raise BadRequest("message is too long")
        return plain

    @staticmethod
    def _markup(markup: dict) -> dict:
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise BadRequest("BUTTON_TEXT_INVALID")
                if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                    raise BadRequest("BUTTON_DATA_INVALID")
        return markup

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would add 40 ms

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                match = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path.split("?")[0])
                if not match or match.group(1) != api.token:
                    self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                params = {k: v if k in TEXT_FIELDS else _json(v) for k, v in parse_qsl(body, keep_blank_values=True)}
                self._reply(*api.handle(match.group(2), params))

            def do_GET(self):
                if not self.path.startswith("/file/"):
                    self.do_POST()
                    return
                data = api.download(unquote(self.path))
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the bot gave up on a long poll while stopping
                    self.close_connection = True

            def log_message(self, *args):  # quiet: the calls are recorded instead
                pass

        return Handler


def _json(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value
