#!/usr/bin/env python3
"""
The cmek:v1 test vectors (SPEC section 8), computed by an implementation independent of the
TypeScript core: Python's `cryptography` package (HKDF, AES-CBC, HMAC, AES-GCM) following
SPEC-cmek-v1.md section by section.

    python3 packages/core/test/vectors/generate.py      # rewrites valid.json and invalid.json

Run once; the files are checked in and the tests only replay them. A future version of the
format must still pass today's vectors, so regenerating must produce identical files (the script
uses no randomness). Before writing, the script replays every vector through its own strict
reference reader (`reference_open` below) and stops if a vector's declared outcome disagrees.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import unicodedata
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).resolve().parent
PREFIX = "cmek:v1:"

# ---------------------------------------------------------------- fixed inputs

KEK = bytes(range(0x00, 0x20))  # the local KEK of every vector
OTHER_KEK = bytes(range(0x40, 0x60))  # a different local KEK (wrong-KEK cases)
DEK = bytes(range(0x20, 0x40))
NONCE = bytes(range(0xA0, 0xAC))  # AES-GCM nonce of the local provider's wrapped DEK
SALT = bytes(range(0xB0, 0xC0))
IV = bytes(range(0xC0, 0xD0))
TIMESTAMP = 1_700_000_000  # 2023-11-14T22:13:20Z

# A second, unrelated DEK for the cases that splice parts of two tokens together.
DEK2 = bytes(range(0x60, 0x80))
NONCE2 = bytes(range(0x80, 0x8C))
SALT2 = bytes(range(0xD0, 0xE0))
IV2 = bytes(range(0xE0, 0xF0))
TIMESTAMP2 = 1_800_000_000

# Revision 2 (SPEC 3, salt reuse): one writer, one DEK, values that share a salt; and one DEK
# used under two contexts, with a salt each.
IV_SHARED = [bytes(range(0x10 + 16 * i, 0x20 + 16 * i)) for i in range(3)]
DEK3 = bytes(range(0x90, 0xB0))
NONCE3 = bytes(range(0x50, 0x5C))
SALT3 = bytes(range(0x30, 0x40))
SALT4 = bytes(range(0x70, 0x80))
IV3 = bytes(range(0xF0, 0x100))
IV4 = bytes(range(0x00, 0x10))
TIMESTAMP3 = 1_765_000_000

FIELD_CONTEXT = {"field": "users.email"}

# Keys that sort one way by UTF-8 bytes and the other way by UTF-16 code units:
#   U+FF61 -> EF BD A1 (UTF-8) / FF61 (UTF-16);  U+1F600 -> F0 9F 98 80 / D83D DE00.
# By UTF-8 bytes (the SPEC's order) U+FF61 comes first; a JavaScript `sort()` on the strings
# would put U+1F600 first. "e\u0301" (combining acute) must not be normalized to "\u00e9".
MULTI_CONTEXT = {
    "\U0001F600": "grinning",
    "\uFF61": "halfwidth ideographic full stop",
    "field": "users.bio",
    "e\u0301": "combining",
    "\u00e9": "precomposed",
    "Z": "",
}

UNICODE_TEXT = "h\u00e9llo \U0001F511\U0001F468\u200D\U0001F469\u200D\U0001F467 \u5BC6\u7801 \u6F22\u5B57 e\u0301 a\u0308\u0323 \uFF61 \U00010348 \u0000end"


# ---------------------------------------------------------------- the format, per the SPEC

def b64url(data: bytes) -> str:
    """SPEC 1: RFC 4648 section 5 without '=' padding."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def local_key_ref(kek: bytes) -> str:
    """SPEC 5, local: first 8 bytes of SHA-256("cmek:v1:local-kek" || KEK), lowercase hex."""
    return hashlib.sha256(b"cmek:v1:local-kek" + kek).digest()[:8].hex()


def local_wrap(kek: bytes, nonce: bytes, dek: bytes, key_ref: str | None = None) -> bytes:
    """SPEC 5, local: nonce(12) || AES-256-GCM(KEK, nonce, DEK, aad = "cmek:v1:local:" || keyRef) || tag(16)."""
    ref = local_key_ref(kek) if key_ref is None else key_ref
    aad = b"cmek:v1:local:" + ref.encode("ascii")
    return nonce + AESGCM(kek).encrypt(nonce, dek, aad)  # cryptography appends the 16-byte tag


def local_unwrap(kek: bytes, wrapped: bytes, key_ref: str) -> bytes:
    aad = b"cmek:v1:local:" + key_ref.encode("utf-8")
    return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)


def record(provider_id: bytes, key_ref: bytes, wrapped: bytes) -> bytes:
    """SPEC 2: 0x01 || u8 P || provider id || u16be K || key ref || wrapped DEK."""
    return bytes([0x01, len(provider_id)]) + provider_id + struct.pack(">H", len(key_ref)) + key_ref + wrapped


def canon(context: dict[str, str]) -> bytes:
    """SPEC 3: entries sorted by the key's UTF-8 bytes; u16be(len) key u16be(len) value."""
    out = b""
    for k, v in sorted(((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())):
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


def value_key(dek: bytes, salt: bytes, context: dict[str, str]) -> bytes:
    """SPEC 3: HKDF-SHA256(ikm = DEK, salt, info = "cmek:v1" || 0x00 || canon(context), L = 32)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"cmek:v1\x00" + canon(context)).derive(dek)


def fernet_seal(vk: bytes, plaintext: bytes, iv: bytes, timestamp: int) -> str:
    """SPEC 4 through the reference Fernet: its key is b64url-padded(vk) (signing || encryption)."""
    return Fernet(base64.urlsafe_b64encode(vk))._encrypt_from_parts(plaintext, timestamp, iv).decode("ascii")


def fernet_raw(vk: bytes, plaintext: bytes, iv: bytes, timestamp: int, version: int = 0x80, pad: bool = True) -> bytes:
    """The same Fernet token built by hand, to forge tokens with a valid HMAC but bad insides."""
    if pad:
        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(vk[16:32]), modes.CBC(iv)).encryptor()
    body = bytes([version]) + struct.pack(">Q", timestamp) + iv + enc.update(plaintext) + enc.finalize()
    return sign(vk, body)


def sign(vk: bytes, body: bytes) -> bytes:
    h = HMAC(vk[:16], hashes.SHA256())
    h.update(body)
    return body + h.finalize()


def token_of(kek_part: str, salt_part: str, fernet_part: str) -> str:
    return f"{PREFIX}{kek_part}|{salt_part}|{fernet_part}"


# ---------------------------------------------------------------- a strict reference reader

class Outcome(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


FORMAT, DECRYPTION, UNKNOWN_KEK = "CmekFormatError", "CmekDecryptionError", "CmekUnknownKekError"
UNPADDED = re.compile(r"^[A-Za-z0-9_-]*$")
PADDED = re.compile(r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$")


def strict_b64url(text: str) -> bytes | None:
    """Unpadded, alphabet-only, canonical (zero trailing bits): one encoding per byte string."""
    if not UNPADDED.fullmatch(text) or len(text) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if b64url(data) == text else None


def strict_b64url_padded(text: str) -> bytes | None:
    if len(text) % 4 or not PADDED.fullmatch(text):
        return None
    data = base64.urlsafe_b64decode(text)
    return data if b64url_padded(data) == text else None


SALT_TEXT = re.compile(r"[A-Za-z0-9_-]{22}")


def is_record_text(text: str) -> bool:
    rec = strict_b64url(text)
    if rec is None or len(rec) < 2 or rec[0] != 0x01:
        return False
    p = rec[1]
    if not 1 <= p <= 32 or len(rec) < 4 + p or not re.fullmatch(rb"[a-z0-9-]+", rec[2:2 + p]):
        return False
    (k,) = struct.unpack(">H", rec[2 + p:4 + p])
    if k > 1024 or len(rec) < 4 + p + k:
        return False
    try:
        rec[4 + p:4 + p + k].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return 1 <= len(rec) - 4 - p - k <= 8192


def is_token_like(value: str) -> bool:
    """The damaged-prefix rule (issue 19), stricter than SPEC 6 under plaintextPolicy 'allow':
    a value is a token, never legacy plaintext, when it starts with "cmek:" (SPEC 1); or with
    "cmek:" in any letter case after at most 8 whitespace characters; or is exactly "cmek" in any
    case; or is, after a damaged prefix of at most 12 characters, <kek>|<salt>|<fernet> with kek
    canonical base64url of a well-formed record (SPEC 2), salt 22 base64url characters and fernet
    starting "gAAAAA". Separators are found from the right (a damaged prefix may hold a '|')."""
    if re.match(r"[ \t\n\r\f\v]{0,8}[cC][mM][eE][kK]:", value) or re.fullmatch(r"[cC][mM][eE][kK]", value):
        return True
    second = value.rfind("|")
    if second < 1 or not value.startswith("gAAAAA", second + 1):
        return False
    first = value.rfind("|", 0, second)
    if first < 0 or not SALT_TEXT.fullmatch(value[first + 1:second]):
        return False
    head = value[:first]
    return any(is_record_text(head[skip:]) for skip in range(0, min(12, len(head) - 1) + 1))


def reference_open(token: str, context: dict[str, str], keks: dict[tuple[str, str], bytes]) -> bytes:
    """Opens a token as the SPEC says, raising Outcome(<error class>) on failure."""
    if not token.startswith(PREFIX):
        # Every vector has the shape of a token; anything else would be legacy plaintext (SPEC 6).
        assert is_token_like(token), "vectors never use legacy plaintext"
        raise Outcome(FORMAT)
    parts = token[len(PREFIX):].split("|")
    if len(parts) != 3:
        raise Outcome(FORMAT)
    kek_text, salt_text, fernet_text = parts
    rec = strict_b64url(kek_text)
    salt = strict_b64url(salt_text)
    if rec is None or salt is None or len(salt) != 16:
        raise Outcome(FORMAT)
    if len(rec) < 2 or rec[0] != 0x01:
        raise Outcome(FORMAT)
    p = rec[1]
    if not 1 <= p <= 32 or len(rec) < 4 + p:
        raise Outcome(FORMAT)
    provider_id = rec[2:2 + p]
    if not re.fullmatch(rb"[a-z0-9-]+", provider_id):
        raise Outcome(FORMAT)
    (k,) = struct.unpack(">H", rec[2 + p:4 + p])
    if k > 1024 or len(rec) < 4 + p + k:
        raise Outcome(FORMAT)
    try:
        key_ref = rec[4 + p:4 + p + k].decode("utf-8")
    except UnicodeDecodeError:
        raise Outcome(FORMAT) from None
    wrapped = rec[4 + p + k:]
    if not 1 <= len(wrapped) <= 8192:
        raise Outcome(FORMAT)
    kek = keks.get((provider_id.decode("ascii"), key_ref))
    if kek is None:
        raise Outcome(UNKNOWN_KEK)
    if len(wrapped) != 60:
        raise Outcome(DECRYPTION)
    try:
        dek = local_unwrap(kek, wrapped, key_ref)
    except InvalidTag:
        raise Outcome(DECRYPTION) from None
    vk = value_key(dek, salt, context)
    raw = strict_b64url_padded(fernet_text)
    if raw is None or len(raw) < 1 + 8 + 16 + 16 + 32 or (len(raw) - 57) % 16 or raw[0] != 0x80:
        raise Outcome(DECRYPTION)
    h = HMAC(vk[:16], hashes.SHA256())
    h.update(raw[:-32])
    try:
        h.verify(raw[-32:])
    except InvalidSignature:
        raise Outcome(DECRYPTION) from None
    dec = Cipher(algorithms.AES(vk[16:32]), modes.CBC(raw[9:25])).decryptor()
    padded = dec.update(raw[25:-32]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise Outcome(DECRYPTION) from None


# ---------------------------------------------------------------- valid vectors

def plaintext_json(data: bytes, kind: str):
    if kind == "utf8":
        return {"utf8": data.decode("utf-8")}
    if kind == "hex":
        return {"hex": data.hex()}
    raise ValueError(kind)


def make_valid(name, description, plaintext, plaintext_field, context, *, dek=DEK, nonce=NONCE, salt=SALT, iv=IV, timestamp=TIMESTAMP):
    key_ref = local_key_ref(KEK)
    wrapped = local_wrap(KEK, nonce, dek)
    rec = record(b"local", key_ref.encode("ascii"), wrapped)
    vk = value_key(dek, salt, context)
    fernet = fernet_seal(vk, plaintext, iv, timestamp)
    # The hand-built Fernet and the library's agree; and the library opens it with vk as its key.
    assert b64url_padded(fernet_raw(vk, plaintext, iv, timestamp)) == fernet
    assert Fernet(base64.urlsafe_b64encode(vk)).decrypt(fernet) == plaintext
    token = token_of(b64url(rec), b64url(salt), fernet)
    vector = {
        "name": name,
        "description": description,
        "kek": KEK.hex(),
        "keyRef": key_ref,
        "dek": dek.hex(),
        "nonce": nonce.hex(),
        "salt": salt.hex(),
        "iv": iv.hex(),
        "timestamp": timestamp,
        "context": context,
        "plaintext": plaintext_field,
        "canonContext": canon(context).hex(),
        "wrappedDek": wrapped.hex(),
        "record": rec.hex(),
        "valueKey": vk.hex(),
        "token": token,
    }
    # Internal state for building the invalid vectors (dropped before writing).
    vector["_parts"] = {"rec": rec, "wrapped": wrapped, "salt": salt, "fernet": fernet, "vk": vk, "plaintext": plaintext}
    return vector


def expand(field) -> bytes:
    if "utf8" in field:
        return field["utf8"].encode("utf-8")
    if "hex" in field:
        return bytes.fromhex(field["hex"])
    unit = field["repeat"].encode("utf-8")
    out = unit * (field["length"] // len(unit) + 1)
    return out[: field["length"]]


def valid_vectors():
    big = {"repeat": "cmek 64 KiB vector ", "length": 65536}
    byte_values = bytes([0x00, 0xFF, 0x80, 0x7F, 0xC3, 0x28, 0xFE, 0x01, 0xED, 0xA0, 0x80])  # not UTF-8
    v = [
        make_valid("empty", "the empty string is a value: it is encrypted (SPEC 6); one padding block",
                   b"", {"utf8": ""}, FIELD_CONTEXT),
        make_valid("ascii", "a short ASCII secret under an adapter's field context (SPEC 7)",
                   b"xoxb-123456789-secret", {"utf8": "xoxb-123456789-secret"}, FIELD_CONTEXT),
        make_valid("block-aligned", "exactly 16 bytes: PKCS7 adds a whole block",
                   b"0123456789abcdef", {"utf8": "0123456789abcdef"}, FIELD_CONTEXT),
        make_valid("unicode", "emoji (incl. a ZWJ sequence), CJK, combining marks, a non-BMP letter and NUL; UTF-8, never normalized",
                   UNICODE_TEXT.encode("utf-8"), {"utf8": UNICODE_TEXT}, FIELD_CONTEXT),
        make_valid("64kib", "65,536 bytes: the plaintext is `repeat` repeated and cut to `length` UTF-8 bytes",
                   expand(big), big, FIELD_CONTEXT),
        make_valid("empty-context", "no context: canon() is the empty string, info is exactly \"cmek:v1\" 0x00",
                   b"no context here", {"utf8": "no context here"}, {}),
        make_valid("multi-key-context", "keys whose UTF-8 byte order differs from UTF-16 code-unit order (U+FF61 before U+1F600), a combining and a precomposed key, an empty value",
                   b"context order matters", {"utf8": "context order matters"}, MULTI_CONTEXT),
        make_valid("bytes", "a binary plaintext that is not UTF-8 (read it with decryptBytes)",
                   byte_values, {"hex": byte_values.hex()}, FIELD_CONTEXT),
        make_valid("second-dek", "another DEK, nonce, salt, IV and timestamp (the invalid vectors splice it with `ascii`)",
                   b"xoxb-123456789-secret", {"utf8": "xoxb-123456789-secret"}, FIELD_CONTEXT,
                   dek=DEK2, nonce=NONCE2, salt=SALT2, iv=IV2, timestamp=TIMESTAMP2),
    ]
    # Revision 2: a writer reuses one salt per (DEK, context). `writer` orders the values of one
    # writer: replayed in `step` order by one envelope, each step draws `draws` from the CSPRNG.
    shared = [
        ("shared-salt-1", b"first of three values under one salt", ["salt", "iv"]),
        ("shared-salt-2", b"second", ["iv"]),
        ("shared-salt-3", b"", ["iv"]),
    ]
    for step, (name, text, draws) in enumerate(shared, start=1):
        vector = make_valid(name, "one DEK, one context, one salt: the values differ by IV and plaintext only (SPEC 3, revision 2)",
                            text, {"utf8": text.decode("utf-8")}, FIELD_CONTEXT,
                            dek=DEK3, nonce=NONCE3, salt=SALT3, iv=IV_SHARED[step - 1], timestamp=TIMESTAMP3)
        vector["writer"] = {"group": "shared-salt", "step": step, "draws": draws}
        v.append(vector)
    for step, (name, context, salt, iv) in enumerate([
        ("context-salt-email", {"field": "users.email"}, SALT3, IV3),
        ("context-salt-phone", {"field": "users.phone"}, SALT4, IV4),
    ], start=1):
        vector = make_valid(name, "one DEK under two contexts: each context has its own salt (SPEC 3, revision 2)",
                            b"+1 555 0100", {"utf8": "+1 555 0100"}, context,
                            dek=DEK3, nonce=NONCE3, salt=salt, iv=iv, timestamp=TIMESTAMP3)
        vector["writer"] = {"group": "context-salts", "step": step, "draws": ["salt", "iv"]}
        v.append(vector)
    return v


# ---------------------------------------------------------------- invalid vectors

def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    b = bytearray(data)
    b[index] ^= mask
    return bytes(b)


def setb(data: bytes, index: int, value: int) -> bytes:
    b = bytearray(data)
    b[index] = value
    return bytes(b)


def trailing_bits_variant(text: str) -> str:
    """The same bytes' encoding with non-zero unused bits in the last character (non-canonical)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    body = text.rstrip("=")
    pad = text[len(body):]
    unused = {2: 4, 3: 2}[len(body) % 4]  # 1 trailing byte -> 4 unused bits; 2 -> 2
    last = alphabet.index(body[-1])
    assert last & ((1 << unused) - 1) == 0
    return body[:-1] + alphabet[last | 1] + pad


def invalid_vectors(valid):
    base = next(v for v in valid if v["name"] == "ascii")
    other = next(v for v in valid if v["name"] == "second-dek")
    bp = base["_parts"]
    rec, wrapped, salt, fernet, vk = bp["rec"], bp["wrapped"], bp["salt"], bp["fernet"], bp["vk"]
    kek_t, salt_t, fernet_t = b64url(rec), b64url(salt), fernet
    fraw = base64.urlsafe_b64decode(fernet)
    ref = base["keyRef"]
    P = 5  # len("local")
    ko = 4 + P  # offset of the key reference in the record
    wo = ko + 16  # offset of the wrapped DEK in the record
    assert rec[wo:] == wrapped and len(rec) == 85

    out = []

    def add(name, token, error, note=None, context=None, decrypt_with=None):
        entry = {"name": name, "token": token, "context": FIELD_CONTEXT if context is None else context}
        if decrypt_with is not None:
            entry["decryptWith"] = decrypt_with
        entry["error"] = error
        entry["code"] = {FORMAT: "CMEK_FORMAT", DECRYPTION: "CMEK_DECRYPTION", UNKNOWN_KEK: "CMEK_UNKNOWN_KEK"}[error]
        if note:
            entry["note"] = note
        out.append(entry)

    def with_rec(r):
        return token_of(b64url(r), salt_t, fernet_t)

    def with_salt(s):
        return token_of(kek_t, s, fernet_t)

    def with_fernet(f):
        return token_of(kek_t, salt_t, f)

    # -- the kek part: the wrapped-DEK record, flipped byte by byte (re-encoded canonically)
    add("record-version-0x00", with_rec(setb(rec, 0, 0x00)), FORMAT)
    add("record-version-0x02", with_rec(setb(rec, 0, 0x02)), FORMAT)
    add("record-version-0x81", with_rec(flip(rec, 0, 0x80)), FORMAT)
    add("record-provider-id-length-0", with_rec(setb(rec, 1, 0)), FORMAT, "P must be 1..32")
    add("record-provider-id-length-4", with_rec(setb(rec, 1, 4)), FORMAT,
        "id 'loca', then the key-reference length reads 0x6c00 = 27648 > 1024")
    add("record-provider-id-length-7", with_rec(setb(rec, 1, 7)), FORMAT,
        "the id swallows the 0x00 0x10 length bytes: outside [a-z0-9-]")
    add("record-provider-id-length-33", with_rec(setb(rec, 1, 33)), FORMAT, "P must be 1..32")
    add("record-provider-id-length-past-end", with_rec(setb(rec, 1, 5)[:6]), FORMAT,
        "the record ends inside the provider id")
    add("record-provider-id-uppercase", with_rec(flip(rec, 2, 0x20)), FORMAT, "'Local': outside [a-z0-9-]")
    add("record-provider-id-nul", with_rec(setb(rec, 4, 0x00)), FORMAT, "'lo\\0al': outside [a-z0-9-]")
    add("record-provider-id-dot", with_rec(setb(rec, 6, ord("."))), FORMAT, "'loca.': outside [a-z0-9-]")
    add("record-provider-id-other-valid", with_rec(flip(rec, 2, 0x01)), UNKNOWN_KEK,
        "'mocal' is a well-formed provider id that the keyring does not hold: routed by id and keyRef (SPEC 2)")
    add("record-key-ref-length-high-byte", with_rec(flip(rec, 2 + P, 0x01)), FORMAT,
        "K = 0x0110 = 272 runs past the end of the 85-byte record")
    add("record-key-ref-length-1025", with_rec(setb(setb(rec, 2 + P, 0x04), 3 + P, 0x01)), FORMAT,
        "K = 1025 > 1024")
    add("record-key-ref-length-15", with_rec(setb(rec, 3 + P, 15)), UNKNOWN_KEK,
        "K = 15: the record is well formed (keyRef = 15 hex chars, 61-byte wrapped DEK) but names a key the keyring does not hold")
    add("record-key-ref-length-17", with_rec(setb(rec, 3 + P, 17)), FORMAT,
        "K = 17 takes the nonce's first byte 0xa0 into the key reference: not UTF-8. SPEC 2 types the key reference as UTF-8 "
        "without listing invalid UTF-8 among the format errors; we read it as one")
    add("record-key-ref-length-zero", with_rec(setb(rec, 3 + P, 0)), UNKNOWN_KEK,
        "K = 0 is allowed by SPEC 2 (0..1024); no KEK has the empty key reference")
    add("record-key-ref-byte-first", with_rec(flip(rec, ko, 0x01)), UNKNOWN_KEK,
        "a different (still lowercase hex) key reference: the keyring has no such KEK")
    add("record-key-ref-byte-last", with_rec(flip(rec, ko + 15, 0x01)), UNKNOWN_KEK)
    add("record-key-ref-uppercase", with_rec(setb(rec, ko + [i for i, c in enumerate(ref) if c in "abcdef"][0], ord(ref[[i for i, c in enumerate(ref) if c in "abcdef"][0]].upper()))), UNKNOWN_KEK,
        "key references compare byte for byte; the local keyRef is lowercase hex")
    add("record-key-ref-invalid-utf8", with_rec(setb(rec, ko, 0xFF)), FORMAT,
        "0xff is never UTF-8; see record-key-ref-length-17")
    add("record-wrapped-nonce-byte", with_rec(flip(rec, wo, 0x01)), DECRYPTION,
        "the record is well formed; the local provider's AES-GCM rejects it (SPEC 5)")
    add("record-wrapped-ciphertext-byte", with_rec(flip(rec, wo + 12, 0x01)), DECRYPTION)
    add("record-wrapped-ciphertext-last-byte", with_rec(flip(rec, wo + 43, 0x80)), DECRYPTION)
    add("record-wrapped-tag-byte", with_rec(flip(rec, wo + 44, 0x01)), DECRYPTION)
    add("record-wrapped-tag-last-byte", with_rec(flip(rec, len(rec) - 1, 0x01)), DECRYPTION)
    add("record-wrapped-59-bytes", with_rec(rec[:-1]), DECRYPTION,
        "truncated wrapped DEK: the record (1..8192 bytes of wrapped DEK) is well formed; the local provider cannot open "
        "anything but 60 bytes, which is the provider's decryption error, not a format error")
    add("record-wrapped-61-bytes", with_rec(rec + b"\x00"), DECRYPTION, "as record-wrapped-59-bytes")
    add("record-wrapped-1-byte", with_rec(rec[:wo + 1]), DECRYPTION, "as record-wrapped-59-bytes")
    add("record-wrapped-empty", with_rec(rec[:wo]), FORMAT, "an empty wrapped DEK (SPEC 2)")
    add("record-wrapped-8193-bytes", with_rec(rec[:wo] + bytes(8193)), FORMAT, "the wrapped DEK is 1..8192 bytes (SPEC 2)")
    add("record-truncated-in-key-ref", with_rec(rec[:ko + 8]), FORMAT, "K = 16 runs past the end")
    add("record-truncated-in-key-ref-length", with_rec(rec[:3 + P]), FORMAT)
    add("record-truncated-to-version", with_rec(rec[:1]), FORMAT)
    add("record-other-provider", with_rec(record(b"vault", b"transit/app", b"vault:v1:abc")), UNKNOWN_KEK,
        "a well-formed vault record; the keyring only holds the local KEK")

    # -- the kek part as text: strict unpadded base64url (SPEC 1)
    add("kek-part-empty", token_of("", salt_t, fernet_t), FORMAT)
    add("kek-part-plus", token_of(kek_t.replace("-", "+", 1) if "-" in kek_t else "+" + kek_t[1:], salt_t, fernet_t), FORMAT)
    add("kek-part-slash", token_of("/" + kek_t[1:], salt_t, fernet_t), FORMAT)
    add("kek-part-padded", token_of(kek_t + "==", salt_t, fernet_t), FORMAT, "SPEC 1: no '=' padding")
    add("kek-part-equals-inside", token_of(kek_t[:8] + "=" + kek_t[9:], salt_t, fernet_t), FORMAT)
    add("kek-part-space", token_of(kek_t[:20] + " " + kek_t[20:], salt_t, fernet_t), FORMAT)
    add("kek-part-newline", token_of(kek_t + "\n", salt_t, fernet_t), FORMAT)
    add("kek-part-tab", token_of("\t" + kek_t, salt_t, fernet_t), FORMAT)
    add("kek-part-non-ascii", token_of(kek_t[:10] + "\u00e9" + kek_t[11:], salt_t, fernet_t), FORMAT)
    assert len(kek_t) % 4 == 2
    add("kek-part-length-mod-4-is-1", token_of(kek_t[:-1], salt_t, fernet_t), FORMAT, "113 characters: no byte string has this length")
    add("kek-part-extra-char", token_of(kek_t + "A", salt_t, fernet_t), DECRYPTION,
        "115 characters decode (canonically) to 86 bytes: a well-formed record whose wrapped DEK is 61 bytes, which the local provider cannot open")
    add("kek-part-trailing-bits", token_of(trailing_bits_variant(kek_t), salt_t, fernet_t), FORMAT,
        "non-zero unused bits in the last character: the same bytes, but not their canonical encoding. SPEC 1 says strict "
        "RFC 4648 base64url; we read it as canonical only (RFC 4648 3.5 lets decoders reject these), so every byte "
        "string has one encoding and no character of a token can change without an error")

    # -- the salt part (SPEC 1: b64url of 16 bytes, always 22 chars)
    add("salt-byte-first", with_salt(b64url(flip(salt, 0))), DECRYPTION,
        "a well-formed 16-byte salt, but another one: another value key, so the Fernet HMAC fails (SPEC 3, 4)")
    add("salt-byte-last", with_salt(b64url(flip(salt, 15, 0x40))), DECRYPTION)
    add("salt-15-bytes", with_salt(b64url(salt[:15])), FORMAT)
    add("salt-17-bytes", with_salt(b64url(salt + b"\x00")), FORMAT)
    add("salt-empty", with_salt(""), FORMAT)
    add("salt-plus", with_salt(salt_t[:5] + "+" + salt_t[6:]), FORMAT)
    add("salt-slash", with_salt(salt_t[:5] + "/" + salt_t[6:]), FORMAT)
    add("salt-padded", with_salt(salt_t + "=="), FORMAT, "SPEC 1: no '=' padding")
    add("salt-space", with_salt(" " + salt_t), FORMAT)
    add("salt-crlf", with_salt(salt_t + "\r\n"), FORMAT)
    add("salt-trailing-bits", with_salt(trailing_bits_variant(salt_t)), FORMAT, "see kek-part-trailing-bits")
    add("salt-length-23", with_salt(salt_t + "A"), FORMAT, "decodes to 17 bytes")
    add("salt-length-21", with_salt(salt_t[:-1]), FORMAT, "no byte string has this length")

    # -- the Fernet part (SPEC 4: every failure is the decryption error, base64 included)
    F_TS, F_IV, F_CT = 1, 9, 25
    add("fernet-version-0x81", with_fernet(b64url_padded(flip(fraw, 0, 0x01))), DECRYPTION)
    add("fernet-version-0x00", with_fernet(b64url_padded(setb(fraw, 0, 0x00))), DECRYPTION)
    add("fernet-timestamp-high-byte", with_fernet(b64url_padded(flip(fraw, F_TS, 0x01))), DECRYPTION)
    add("fernet-timestamp-low-byte", with_fernet(b64url_padded(flip(fraw, F_TS + 7, 0x01))), DECRYPTION)
    add("fernet-iv-first-byte", with_fernet(b64url_padded(flip(fraw, F_IV, 0x01))), DECRYPTION)
    add("fernet-iv-last-byte", with_fernet(b64url_padded(flip(fraw, F_IV + 15, 0x80))), DECRYPTION)
    add("fernet-ciphertext-first-byte", with_fernet(b64url_padded(flip(fraw, F_CT, 0x01))), DECRYPTION)
    add("fernet-ciphertext-last-byte", with_fernet(b64url_padded(flip(fraw, len(fraw) - 33, 0x01))), DECRYPTION)
    add("fernet-hmac-first-byte", with_fernet(b64url_padded(flip(fraw, len(fraw) - 32, 0x01))), DECRYPTION)
    add("fernet-hmac-last-byte", with_fernet(b64url_padded(flip(fraw, len(fraw) - 1, 0x01))), DECRYPTION)
    add("fernet-truncated-1-byte", with_fernet(b64url_padded(fraw[:-1])), DECRYPTION)
    add("fernet-truncated-hmac", with_fernet(b64url_padded(fraw[:-32])), DECRYPTION)
    add("fernet-truncated-block", with_fernet(b64url_padded(fraw[:F_CT] + fraw[F_CT + 16:])), DECRYPTION)
    add("fernet-truncated-to-header", with_fernet(b64url_padded(fraw[:F_CT])), DECRYPTION)
    add("fernet-truncated-to-version", with_fernet(b64url_padded(fraw[:1])), DECRYPTION)
    add("fernet-empty", with_fernet(""), DECRYPTION)
    add("fernet-appended-byte", with_fernet(b64url_padded(fraw + b"\x00")), DECRYPTION)
    add("fernet-text-truncated-1-char", with_fernet(fernet_t[:-1]), DECRYPTION, "bad base64 in the Fernet part is the decryption error (SPEC 4)")
    add("fernet-unpadded", with_fernet(fernet_t.rstrip("=")), DECRYPTION,
        "SPEC 1: the Fernet part is written WITH '=' padding; a reader requires it")
    add("fernet-extra-padding", with_fernet(fernet_t + "=="), DECRYPTION)
    add("fernet-plus", with_fernet(fernet_t[:30] + "+" + fernet_t[31:]), DECRYPTION,
        "'+' and '/' are not base64url (SPEC 1). Python's Fernet would read them as standard base64; a cmek reader rejects them")
    add("fernet-slash", with_fernet("/" + fernet_t[1:]), DECRYPTION)
    add("fernet-space", with_fernet(fernet_t[:40] + " " + fernet_t[40:]), DECRYPTION)
    add("fernet-newline", with_fernet(fernet_t + "\n"), DECRYPTION)
    add("fernet-trailing-bits", with_fernet(trailing_bits_variant(fernet_t)), DECRYPTION,
        "see kek-part-trailing-bits: the bytes (and so the HMAC) are unchanged, only the encoding is not canonical. "
        "Python's Fernet accepts this token; a cmek reader must not, or a one-character change would still decrypt")
    plain = bp["plaintext"]
    add("fernet-valid-hmac-version-0x81", with_fernet(b64url_padded(fernet_raw(vk, plain, IV, TIMESTAMP, version=0x81))), DECRYPTION,
        "the HMAC is valid (forged with the value key): the version byte alone must be checked")
    add("fernet-valid-hmac-bad-padding", with_fernet(b64url_padded(fernet_raw(vk, plain + bytes(11), IV, TIMESTAMP, pad=False))), DECRYPTION,
        "valid HMAC over a 32-byte ciphertext whose last plaintext byte is 0x00: invalid PKCS7")
    add("fernet-valid-hmac-padding-17", with_fernet(b64url_padded(fernet_raw(vk, plain + bytes([17] * 11), IV, TIMESTAMP, pad=False))), DECRYPTION,
        "valid HMAC; padding bytes of value 17 > block size")
    add("fernet-valid-hmac-no-ciphertext", with_fernet(b64url_padded(sign(vk, fraw[:F_CT]))), DECRYPTION,
        "valid HMAC over a header with no ciphertext block")
    add("fernet-valid-hmac-partial-block", with_fernet(b64url_padded(sign(vk, fraw[:F_CT + 20]))), DECRYPTION,
        "valid HMAC over a ciphertext that is not a multiple of 16 bytes")

    # -- the token as a whole: prefix, truncation, parts
    rest = token_of(kek_t, salt_t, fernet_t)[len(PREFIX):]
    add("prefix-v2", "cmek:v2:" + rest, FORMAT, "a future version is an error, never plaintext (SPEC 1)")
    add("prefix-v10", "cmek:v10:" + rest, FORMAT)
    add("prefix-uppercase-v", "cmek:V1:" + rest, FORMAT)
    add("prefix-junk", "cmek:%%junk%%", FORMAT, "starts with 'cmek:' so it is not legacy plaintext (SPEC 1, 6)")
    add("prefix-only-cmek", "cmek:", FORMAT)
    add("prefix-no-version-colon", "cmek:v1" + rest, FORMAT)
    add("prefix-only", PREFIX, FORMAT)
    full = token_of(kek_t, salt_t, fernet_t)
    # -- a damaged prefix (issue 19): the value still has the shape of a token, so it is a format
    #    error under every plaintext policy, 'allow' included, never legacy plaintext
    damaged_note = "not 'cmek:v1:' but the shape of a token: a format error under plaintextPolicy allow, warn and reject (stricter than SPEC 6)"
    for name, token in [
        ("prefix-damaged-first-char", "#" + full[1:]),
        ("prefix-damaged-swapped-chars", "mcek:v1:" + rest),
        ("prefix-damaged-colon-changed", "cmek;v1:" + rest),
        ("prefix-damaged-colon-deleted", "cmekv1:" + rest),
        ("prefix-damaged-uppercase", "CMEK:V1:" + rest),
        ("prefix-damaged-capitalized", "Cmek:v1:" + rest),
        ("prefix-damaged-first-char-deleted", "mek:v1:" + rest),
        ("prefix-damaged-cmek-missing", "v1:" + rest),
        ("prefix-damaged-prefix-missing", rest),
        ("prefix-damaged-bar-inserted", "cm|ek:v1:" + rest),
        ("prefix-damaged-leading-space", " " + full),
        ("prefix-damaged-truncated-to-4", full[:4]),
    ]:
        assert not token.startswith("cmek:"), name
        add(name, token, FORMAT, damaged_note)
    k_end = len(PREFIX) + len(kek_t)
    s_end = k_end + 1 + len(salt_t)
    add("truncated-in-prefix", full[:6], FORMAT)
    add("truncated-in-kek-part", full[: len(PREFIX) + 40], FORMAT, "one part instead of three")
    add("truncated-after-kek-part", full[:k_end], FORMAT)
    add("truncated-after-first-bar", full[: k_end + 1], FORMAT, "two parts")
    add("truncated-in-salt-part", full[: k_end + 11], FORMAT)
    add("truncated-after-salt-part", full[:s_end], FORMAT)
    add("truncated-after-second-bar", full[: s_end + 1], DECRYPTION, "three well-formed parts, an empty Fernet part (SPEC 4)")
    add("truncated-in-fernet-part", full[: s_end + 1 + 50], DECRYPTION)
    add("truncated-last-char", full[:-1], DECRYPTION)
    add("extra-part-at-end", full + "|", FORMAT)
    add("extra-part-with-data", full + "|" + salt_t, FORMAT)
    add("extra-part-in-middle", token_of(kek_t, salt_t, salt_t + "|" + fernet_t), FORMAT)
    add("bar-doubled", token_of(kek_t, "", salt_t + "|" + fernet_t), FORMAT)
    add("swapped-salt-fernet", token_of(kek_t, fernet_t, salt_t), FORMAT)
    add("swapped-kek-salt", token_of(salt_t, kek_t, fernet_t), FORMAT)
    add("swapped-kek-fernet", token_of(fernet_t, salt_t, kek_t), FORMAT)
    add("rotated-parts-left", token_of(salt_t, fernet_t, kek_t), FORMAT)
    add("rotated-parts-right", token_of(fernet_t, kek_t, salt_t), FORMAT)
    orec, osalt, ofernet = other["_parts"]["rec"], other["_parts"]["salt"], other["_parts"]["fernet"]
    add("spliced-kek-from-other-token", token_of(b64url(orec), salt_t, fernet_t), DECRYPTION,
        "another well-formed record under the same KEK (another DEK): the value key differs, the HMAC fails")
    add("spliced-salt-from-other-token", token_of(kek_t, b64url(osalt), fernet_t), DECRYPTION)
    add("spliced-fernet-from-other-token", token_of(kek_t, salt_t, ofernet), DECRYPTION)

    # -- wrong context (SPEC 3): the context is authenticated, not stored
    add("context-other-field", full, DECRYPTION, context={"field": "users.name"})
    add("context-empty", full, DECRYPTION, context={})
    add("context-extra-key", full, DECRYPTION, context={**FIELD_CONTEXT, "tenant": "1"})
    add("context-key-case", full, DECRYPTION, context={"Field": "users.email"})
    add("context-value-trailing-space", full, DECRYPTION, context={"field": "users.email "})
    multi = next(v for v in valid if v["name"] == "multi-key-context")
    add("context-multi-key-minus-one", multi["token"], DECRYPTION,
        context={k: v for k, v in MULTI_CONTEXT.items() if k != "Z"})
    add("context-multi-key-normalized", multi["token"], DECRYPTION,
        note="the key 'e\\u0301' replaced by its NFC form '\\u00e9' (whose own entry is dropped): contexts are bytes, never normalized",
        context={("\u00e9" if k == "e\u0301" else k): v for k, v in MULTI_CONTEXT.items() if k != "\u00e9"})
    empty_ctx = next(v for v in valid if v["name"] == "empty-context")
    add("context-given-where-none-was", empty_ctx["token"], DECRYPTION, context={"field": ""},
        note="{ field: '' } encodes to 00 05 'field' 00 00, not to the empty string")

    # -- wrong KEK
    add("kek-other-local-key", full, UNKNOWN_KEK, decrypt_with={"kek": OTHER_KEK.hex()},
        note="another local KEK has another keyRef: the keyring cannot route the token to it")
    add("kek-wrong-key-same-key-ref", full, DECRYPTION, decrypt_with={"kek": OTHER_KEK.hex(), "keyRef": ref},
        note="a provider that answers for this keyRef but holds another KEK: AES-GCM fails in the provider")

    # every mutated token differs from every valid token
    valid_tokens = {v["token"] for v in valid}
    names = set()
    for e in out:
        assert e["name"] not in names, e["name"]
        names.add(e["name"])
        if not e["name"].startswith(("context-", "kek-other", "kek-wrong")):
            assert e["token"] not in valid_tokens, e["name"]
    return out


# ---------------------------------------------------------------- check and write

def check(valid, invalid):
    keks = {("local", local_key_ref(KEK)): KEK}
    for v in valid:
        assert v["token"].startswith(PREFIX) and v["token"].isascii()
        got = reference_open(v["token"], v["context"], keks)
        assert got == expand(v["plaintext"]), v["name"]
        assert len(v["token"].split("|")[1]) == 22
    for e in invalid:
        if "decryptWith" in e:
            k = bytes.fromhex(e["decryptWith"]["kek"])
            ring = {("local", e["decryptWith"].get("keyRef", local_key_ref(k))): k}
        else:
            ring = keks
        try:
            reference_open(e["token"], e["context"], ring)
        except Outcome as outcome:
            assert outcome.kind == e["error"], f"{e['name']}: declared {e['error']}, reference says {outcome.kind}"
        else:
            raise AssertionError(f"{e['name']} decrypted")
    # Python's Fernet agrees on the Fernet-part failures it can see (it is laxer about base64).
    fernet_lib = Fernet(base64.urlsafe_b64encode(next(v for v in valid if v["name"] == "ascii")["_parts"]["vk"]))
    for e in invalid:
        if e["name"].startswith("fernet-") and e["name"] not in ("fernet-trailing-bits", "fernet-plus", "fernet-slash", "fernet-space", "fernet-newline", "fernet-unpadded", "fernet-extra-padding"):
            try:
                fernet_lib.decrypt(e["token"].split("|")[2])
            except InvalidToken:
                pass
            else:
                raise AssertionError(f"python Fernet opened {e['name']}")


LEGACY_PLAINTEXT = [
    "", "c", "cm", "cme", "cmek-", "cmekv1", "my cmek: notes", "hunter2", "xoxb-123456789-secret",
    "a|b|gAAAAA", "v1:abc|def|gAAAAAB", "CMEKS are fun", "  cmek", "user@example.com",
    "\u212amek:v1:", "\u00a0cmek:v1:",
]


# ---------------------------------------------------------------- blind indexes (docs/wire-format.md, "Blind indexes")

BI_PREFIX = "cmek:bi1:"
BIK_PREFIX = "cmek:bik1:"
INDEX_KEY = bytes(range(0x11, 0x31))  # the index key of the blind-index vectors
NEXT_INDEX_KEY = bytes(range(0x31, 0x51))  # a second one (a rotation)
INDEX_KEY_NONCE = bytes(range(0x21, 0x2D))  # AES-GCM nonce of its wrapping by the local KEK

# ECMAScript's WhiteSpace and LineTerminator (String.prototype.trim), not Python's str.strip set.
ES_WHITESPACE = "\u0009\u000A\u000B\u000C\u000D\u0020\u00A0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF"
NORMALIZERS = {
    "trim": lambda t: t.strip(ES_WHITESPACE),
    "lowercase": lambda t: t.lower(),  # Unicode default full lowercase mapping (incl. final sigma)
    "nfc": lambda t: unicodedata.normalize("NFC", t),
    "nfkc": lambda t: unicodedata.normalize("NFKC", t),
}


def hkdf_nosalt(ikm: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 with no salt (RFC 5869: HashLen zero bytes, the same HMAC key as an empty salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(ikm)


def index_key_id(key: bytes) -> str:
    return hkdf_nosalt(key, b"cmek:bi1:key-id", 8).hex()


def mode_tag(mode: str, cost: int) -> str:
    return "h" if mode == "hmac" else f"s{cost}"


def field_key(key: bytes, tag: str, label: str) -> bytes:
    return hkdf_nosalt(key, b"cmek:bi1\x00" + tag.encode("ascii") + b"\x00" + label.encode("utf-8"), 32)


def blind_index(key: bytes, label: str, plaintext: str, normalize: list[str], mode: str, cost: int):
    text = plaintext
    for step in normalize:
        text = NORMALIZERS[step](text)
    message = text.encode("utf-8")
    tag = mode_tag(mode, cost)
    fk = field_key(key, tag, label)
    h = HMAC(fk, hashes.SHA256())
    h.update(message)
    inner = h.finalize()
    digest = inner if mode == "hmac" else hashlib.scrypt(inner, salt=fk, n=2 ** cost, r=8, p=1, maxmem=2 * 128 * 8 * 2 ** cost, dklen=32)
    return {"message": message.hex(), "fieldKey": fk.hex(), "digest": digest.hex(),
            "index": f"{BI_PREFIX}{tag}:{index_key_id(key)}:{b64url(digest)}"}


def blind_index_vectors():
    email, token = "users.email", "ApiToken.tokenHash"
    cases = [
        ("hmac-ascii", "HMAC mode, an API token hash, no normaliser", INDEX_KEY, token, "9f86d081884c7d659a2feaa0c55ad015", [], "hmac", 14),
        ("hmac-empty", "the empty string is a value: it has an index", INDEX_KEY, token, "", [], "hmac", 14),
        ("hmac-unicode", "UTF-8 bytes of the string as given, never normalised without a normaliser", INDEX_KEY, email, UNICODE_TEXT, [], "hmac", 14),
        ("hmac-other-field", "the same plaintext under another field label: another field key, another index", INDEX_KEY, email, "9f86d081884c7d659a2feaa0c55ad015", [], "hmac", 14),
        ("hmac-next-key", "the same field and plaintext under another index key: another key id and index", NEXT_INDEX_KEY, token, "9f86d081884c7d659a2feaa0c55ad015", [], "hmac", 14),
        ("hmac-email-normalised", "trim (ECMAScript white space, NBSP and U+FEFF included) then lowercase", INDEX_KEY, email, "\u00a0\uFEFF Alice@Example.COM \n", ["trim", "lowercase"], "hmac", 14),
        ("hmac-email-plain", "the normalised form of the previous vector: the same index", INDEX_KEY, email, "alice@example.com", ["trim", "lowercase"], "hmac", 14),
        ("hmac-email-unnormalised", "the same address without the normalisers: another index", INDEX_KEY, email, "Alice@Example.COM", [], "hmac", 14),
        ("hmac-lowercase-unicode", "lowercase is Unicode's default mapping: final sigma, dotted capital I (U+0130 -> i U+0307)", INDEX_KEY, "users.name", "\u039F\u0394\u039F\u03A3 \u0130STANBUL \u00C4", ["lowercase"], "hmac", 14),
        ("hmac-nfc", "NFC: e + U+0301 and U+00E9 give one index", INDEX_KEY, "users.name", "Jos" + "e\u0301", ["nfc"], "hmac", 14),
        ("hmac-nfc-precomposed", "the precomposed form of the previous vector", INDEX_KEY, "users.name", "Jos\u00e9", ["nfc"], "hmac", 14),
        ("hmac-nfkc", "NFKC folds compatibility forms (U+FB01 ligature, fullwidth digits)", INDEX_KEY, "users.phone", "\uFB01 \uFF11\uFF12\uFF13", ["nfkc"], "hmac", 14),
        ("hmac-unicode-label", "a field label outside ASCII: its UTF-8 bytes in the HKDF info", INDEX_KEY, "Benutzer.Geheimnis\u00dc", "s3cr3t", [], "hmac", 14),
        ("slow-email", "slow mode, cost 14 (N = 16384, r = 8, p = 1), with the email normalisers", INDEX_KEY, email, " Alice@Example.COM", ["trim", "lowercase"], "slow", 14),
        ("slow-cost-10", "slow mode, cost 10: the cost is in the mode tag and the HKDF info", INDEX_KEY, "users.phone", "+4915112345678", [], "slow", 10),
        ("slow-same-as-hmac-input", "slow mode on the plaintext of hmac-ascii: another field key (tag in info), another index", INDEX_KEY, token, "9f86d081884c7d659a2feaa0c55ad015", [], "slow", 10),
    ]
    out = []
    for name, description, key, label, plaintext, normalize, mode, cost in cases:
        v = {"name": name, "description": description, "indexKey": key.hex(), "keyId": index_key_id(key),
             "field": label, "plaintext": plaintext, "normalize": normalize, "mode": mode}
        if mode == "slow":
            v["cost"] = cost
        v.update(blind_index(key, label, plaintext, normalize, mode, cost))
        out.append(v)
    by = {v["name"]: v["index"] for v in out}
    assert by["hmac-email-normalised"] == by["hmac-email-plain"] != by["hmac-email-unnormalised"]
    assert by["hmac-nfc"] == by["hmac-nfc-precomposed"]
    assert by["hmac-ascii"] != by["hmac-other-field"] and by["hmac-ascii"] != by["hmac-next-key"]
    assert by["hmac-ascii"] != by["slow-same-as-hmac-input"]
    assert all(len(v["index"]) <= 73 for v in out)
    return out


def index_key_vectors():
    """Stored index keys: the key wrapped by the local KEK (SPEC 5) in a SPEC 2 record."""
    ref = local_key_ref(KEK)
    out = []
    for name, key, nonce in (("current", INDEX_KEY, INDEX_KEY_NONCE), ("next", NEXT_INDEX_KEY, NONCE3)):
        wrapped = local_wrap(KEK, nonce, key)
        rec = record(b"local", ref.encode("ascii"), wrapped)
        out.append({"name": name, "indexKey": key.hex(), "keyId": index_key_id(key), "nonce": nonce.hex(),
                    "record": rec.hex(), "stored": f"{BIK_PREFIX}{index_key_id(key)}:{b64url(rec)}"})
    return out


def invalid_index_keys(keys):
    cur, nxt = keys[0], keys[1]
    rec = bytes.fromhex(cur["record"])
    flipped = rec[:-1] + bytes([rec[-1] ^ 0x01])
    return [
        {"name": "wrong-prefix", "stored": "cmek:bik2:" + cur["stored"][len(BIK_PREFIX):], "error": FORMAT},
        {"name": "no-key-id", "stored": BIK_PREFIX + b64url(rec), "error": FORMAT},
        {"name": "uppercase-key-id", "stored": f"{BIK_PREFIX}{cur['keyId'].upper()}:{b64url(rec)}", "error": FORMAT},
        {"name": "record-not-base64url", "stored": f"{BIK_PREFIX}{cur['keyId']}:{b64url(rec)}=", "error": FORMAT},
        {"name": "key-id-of-another-key", "stored": f"{BIK_PREFIX}{nxt['keyId']}:{b64url(rec)}", "error": DECRYPTION,
         "note": "the record unwraps, but to a key whose id is not the one written: refused, never used"},
        {"name": "wrapped-key-flipped", "stored": f"{BIK_PREFIX}{cur['keyId']}:{b64url(flipped)}", "error": DECRYPTION},
        {"name": "other-kek", "stored": f"{BIK_PREFIX}{cur['keyId']}:{b64url(record(b'local', local_key_ref(OTHER_KEK).encode('ascii'), local_wrap(OTHER_KEK, INDEX_KEY_NONCE, INDEX_KEY)))}", "error": UNKNOWN_KEK},
    ]


INVALID_INDEX_VALUES = [
    "", "cmek:bi1:", "cmek:bi2:h:0011223344556677:" + "A" * 43, "cmek:bi1:x:0011223344556677:" + "A" * 43,
    "cmek:bi1:h:001122334455667:" + "A" * 43, "cmek:bi1:h:00112233445566778:" + "A" * 43,
    "cmek:bi1:h:00112233445566AA:" + "A" * 43, "cmek:bi1:h:0011223344556677:" + "A" * 42,
    "cmek:bi1:h:0011223344556677:" + "A" * 44, "cmek:bi1:h:0011223344556677:" + "A" * 42 + "B",
    "cmek:bi1:h:0011223344556677:" + "A" * 42 + "=", "cmek:bi1:s9:0011223344556677:" + "A" * 43,
    "cmek:bi1:s21:0011223344556677:" + "A" * 43, "cmek:bi1:s014:0011223344556677:" + "A" * 43,
    "cmek:bi1:s:0011223344556677:" + "A" * 43, "CMEK:BI1:h:0011223344556677:" + "A" * 43,
]


def write_blind_index_vectors():
    keys = index_key_vectors()
    # The reference reading of a stored key: unwrap the record, derive the key id, compare.
    for k in keys:
        rec = bytes.fromhex(k["record"])
        assert local_unwrap(KEK, rec[4 + 5 + 16:], local_key_ref(KEK)).hex() == k["indexKey"]
    vectors = blind_index_vectors()
    for text in INVALID_INDEX_VALUES:
        assert not re.fullmatch(r"cmek:bi1:(h|s(1[0-9]|20)):[0-9a-f]{16}:[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]", text), text
    (HERE / "blind-index.json").write_text(json.dumps({
        "format": "cmek:bi1 (blind index) and cmek:bik1 (stored index key)",
        "spec": "docs/wire-format.md, section Blind indexes",
        "generator": "packages/core/test/vectors/generate.py (Python cryptography and hashlib.scrypt; independent of the TypeScript core)",
        "description": "Each vector fixes an index key, a field label, a plaintext, its normalisers and the mode, and gives the intermediate "
                       "values (message = UTF-8 of the normalised plaintext, fieldKey, digest, in hex) and the exact index. "
                       "indexKeys are the two index keys wrapped by the local KEK `kek` (SPEC 5) with a fixed nonce, as stored. "
                       "invalidIndexKeys must fail to load with `error`; invalidIndexValues are not blind-index values.",
        "kek": KEK.hex(),
        "indexKeys": keys,
        "vectors": vectors,
        "invalidIndexKeys": invalid_index_keys(keys),
        "invalidIndexValues": INVALID_INDEX_VALUES,
    }, indent=2, ensure_ascii=True) + "\n")
    return len(vectors)


def main():
    valid = valid_vectors()
    invalid = invalid_vectors(valid)
    check(valid, invalid)
    for v in valid:
        del v["_parts"]
    common = {
        "format": "cmek:v1",
        "spec": "SPEC-cmek-v1.md section 8",
        "generator": "packages/core/test/vectors/generate.py (Python cryptography; independent of the TypeScript core)",
    }
    (HERE / "valid.json").write_text(json.dumps({
        **common,
        "description": "Each vector fixes the local KEK (SPEC 5), DEK, GCM nonce, salt, IV, timestamp, context and plaintext, and gives the exact token. "
                       "plaintext is {utf8}, {hex}, or {repeat, length}: `repeat` as UTF-8 repeated and cut to `length` bytes. "
                       "canonContext, wrappedDek, record and valueKey are the intermediate values, in hex.",
        "vectors": valid,
    }, indent=2, ensure_ascii=True) + "\n")
    for text in LEGACY_PLAINTEXT:
        assert not is_token_like(text), text
    (HERE / "invalid.json").write_text(json.dumps({
        **common,
        "description": "Mutations of valid vectors. Decrypt `token` under `context` with a keyring holding the local KEK of the valid vectors "
                       "(or, with `decryptWith`, a local provider over decryptWith.kek answering for decryptWith.keyRef, default its own keyRef); "
                       "it must fail with `error` / `code` and never return a plaintext. `note` explains a case whose class needed a reading of the SPEC.",
        "kek": KEK.hex(),
        "vectors": invalid,
        "legacyPlaintextDescription": "Values that are not tokens under the damaged-prefix rule: under plaintextPolicy 'allow' each reads back as it is.",
        "legacyPlaintext": LEGACY_PLAINTEXT,
    }, indent=2, ensure_ascii=True) + "\n")
    print(f"{len(valid)} valid, {len(invalid)} invalid, {write_blind_index_vectors()} blind-index vectors written to {HERE}")


if __name__ == "__main__":
    main()
