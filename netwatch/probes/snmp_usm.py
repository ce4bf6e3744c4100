"""SNMPv3 User-based Security Model: keys, authentication and privacy (RFC 3414, 3826, 7860).

What the v3 codec and client (:mod:`netwatch.probes.snmp_v3`, ``snmp_v3_client``) and the v3
trap receiver need from the USM, and nothing else:

* password → key (RFC 3414 A.2: one hash over 1 MiB of the repeated password) and key
  localization to an agent's engine id (``H(Ku + engineID + Ku)``). The 1 MiB hash costs
  1-3 ms, so :class:`KeyCache` keeps the password keys per (hash, password) and the localized
  keys per (user, engine id, protocols, passwords): each is computed once per process.
* HMAC-MD5-96, HMAC-SHA-96 (RFC 3414) and HMAC-SHA-2 with RFC 7860's truncations
  (SHA-224 → 128 bits, SHA-256 → 192, SHA-384 → 256, SHA-512 → 384).
* DES-CBC (RFC 3414 8), AES-128-CFB (RFC 3826), and AES-192/256-CFB with the two key
  extensions agents use: ``aes192``/``aes256`` extend the localized key the Blumenthal way
  (draft-blumenthal-aes-usm-04: ``Kul | H(Kul)``; net-snmp's AES-192/AES-256, pysnmp's
  ``usmAesBlumenthalCfb192Protocol``), ``aes192c``/``aes256c`` the Reeder ("Cisco") way
  (draft-reeder-snmpv3-usm-3desede: password-to-key of ``Kul``, localized again; net-snmp's
  AES-192-C/AES-256-C, pysnmp's ``usmAesCfb192Protocol``).

HMAC and hashes are the standard library's (OpenSSL underneath); the block ciphers are the
``cryptography`` package's. Nothing here is hand-rolled below HMAC and the block cipher.

>>> key = password_to_key(b"maplesyrup", "md5")
>>> localize(key, bytes.fromhex("000000000000000000000002"), "md5").hex()
'526f5eed9fcce26f8964c2930787d82b'
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import random
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_MEGABYTE: Final = 1_048_576


@dataclass(frozen=True, slots=True)
class AuthProtocol:
    """An HMAC authentication protocol: its hash and how many bytes of the MAC are sent."""

    name: str
    hash_name: str
    mac_length: int


@dataclass(frozen=True, slots=True)
class PrivProtocol:
    """A privacy protocol: ``des`` or ``aes`` with its key length and key extension."""

    name: str
    cipher: str  # "des" | "aes"
    key_length: int  # bytes of the localized key used (DES: 8 key + 8 pre-IV)
    extension: str  # "blumenthal" | "reeder" (only used when the hash is too short)


AUTH_PROTOCOLS: Final[dict[str, AuthProtocol]] = {
    p.name: p
    for p in (
        AuthProtocol("md5", "md5", 12),
        AuthProtocol("sha", "sha1", 12),
        AuthProtocol("sha224", "sha224", 16),
        AuthProtocol("sha256", "sha256", 24),
        AuthProtocol("sha384", "sha384", 32),
        AuthProtocol("sha512", "sha512", 48),
    )
}
PRIV_PROTOCOLS: Final[dict[str, PrivProtocol]] = {
    p.name: p
    for p in (
        PrivProtocol("des", "des", 16, "blumenthal"),
        PrivProtocol("aes", "aes", 16, "blumenthal"),
        PrivProtocol("aes192", "aes", 24, "blumenthal"),
        PrivProtocol("aes256", "aes", 32, "blumenthal"),
        PrivProtocol("aes192c", "aes", 24, "reeder"),
        PrivProtocol("aes256c", "aes", 32, "reeder"),
    )
}


class DecryptionError(ValueError):
    """The encrypted scoped PDU cannot be decrypted (bad length or salt)."""


# --------------------------------------------------------------------------- keys


def password_to_key(password: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: the hash of the password repeated over 1 MiB (Ku)."""
    if not password:
        raise ValueError("an SNMPv3 password cannot be empty")
    repeated = password * (_MEGABYTE // len(password) + 1)
    return hashlib.new(hash_name, memoryview(repeated)[:_MEGABYTE]).digest()


def localize(key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: the key localized to one authoritative engine (Kul)."""
    return hashlib.new(hash_name, key + engine_id + key).digest()


def extend(
    localized: bytes, engine_id: bytes, hash_name: str, length: int, extension: str
) -> bytes:
    """``localized`` lengthened to ``length`` bytes for AES-192/256 (see the module doc)."""
    key = localized
    while len(key) < length:
        if extension == "reeder":
            key += localize(password_to_key(key, hash_name), engine_id, hash_name)
        else:
            key += hashlib.new(hash_name, key).digest()
    return key[:length]


# ---------------------------------------------------------------- authentication and privacy

# Salts must not repeat under one key: a 64-bit (AES) and a 32-bit (DES) counter from a
# random start, as RFC 3826 3.1.2.1 and RFC 3414 8.1.1.1.1 suggest.
_aes_salts = itertools.count(random.getrandbits(64))
_des_salts = itertools.count(random.getrandbits(32))


@dataclass(frozen=True, slots=True)
class UserKeys:
    """One user's localized keys for one engine, and what is done with them: HMAC and
    privacy. ``repr`` never shows the keys.

    The HMAC state and the block cipher are set up once per key, not once per message.

    >>> keys = UserKeys(AUTH_PROTOCOLS["sha256"], bytes(32), PRIV_PROTOCOLS["aes"], bytes(16))
    >>> len(keys.mac(b"message")), keys
    (24, UserKeys(auth=sha256, priv=aes))
    >>> ciphertext, salt = keys.encrypt(1, 2, b"scoped pdu")
    >>> keys.decrypt(1, 2, salt, ciphertext)
    b'scoped pdu'
    """

    auth: AuthProtocol | None
    auth_key: bytes
    priv: PrivProtocol | None
    priv_key: bytes
    _hmac: Any = field(default=None, init=False, compare=False)
    _cipher: Any = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.auth is not None:
            object.__setattr__(self, "_hmac", hmac.new(self.auth_key, None, self.auth.hash_name))
        if self.priv is not None:
            cipher = self.priv.cipher
            key = self.priv_key
            # DES: single DES as three equal keys; the key's last 8 bytes are the pre-IV.
            block = TripleDES(key[:8] * 3) if cipher == "des" else algorithms.AES(key)
            object.__setattr__(self, "_cipher", block)

    def __repr__(self) -> str:
        auth = self.auth.name if self.auth else None
        priv = self.priv.name if self.priv else None
        return f"UserKeys(auth={auth}, priv={priv})"

    def mac(self, message: bytes) -> bytes:
        """The truncated HMAC of ``message`` (whose authentication parameters are zeros)."""
        assert self.auth is not None, "no authentication key"
        state: hmac.HMAC = self._hmac.copy()
        state.update(message)
        return state.digest()[: self.auth.mac_length]

    def verify(self, message: bytes, received: bytes) -> bool:
        """Whether ``received`` is the MAC of ``message`` (compared in constant time)."""
        return hmac.compare_digest(self.mac(message), received)

    def encrypt(self, boots: int, engine_time: int, plaintext: bytes) -> tuple[bytes, bytes]:
        """``(ciphertext, msgPrivacyParameters)`` of a scoped PDU."""
        assert self.priv is not None, "no privacy key"
        if self.priv.cipher == "des":
            salt = boots.to_bytes(4, "big") + (next(_des_salts) & 0xFFFFFFFF).to_bytes(4, "big")
            iv = bytes(a ^ b for a, b in zip(salt, self.priv_key[8:16], strict=True))
            padded = plaintext + bytes(-len(plaintext) % 8)
            encryptor = Cipher(self._cipher, modes.CBC(iv)).encryptor()
            return encryptor.update(padded) + encryptor.finalize(), salt
        salt = (next(_aes_salts) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
        encryptor = Cipher(self._cipher, CFB(iv)).encryptor()
        return encryptor.update(plaintext) + encryptor.finalize(), salt

    def decrypt(self, boots: int, engine_time: int, salt: bytes, data: bytes) -> bytes:
        """The plaintext (DES: still padded) of an encrypted scoped PDU;
        :class:`DecryptionError` when its salt or length is impossible."""
        assert self.priv is not None, "no privacy key"
        if len(salt) != 8:
            raise DecryptionError("privacy parameters are not 8 bytes")
        if self.priv.cipher == "des":
            if len(data) % 8:
                raise DecryptionError("DES ciphertext is not a multiple of 8 bytes")
            iv = bytes(a ^ b for a, b in zip(salt, self.priv_key[8:16], strict=True))
            decryptor = Cipher(self._cipher, modes.CBC(iv)).decryptor()
            return decryptor.update(data) + decryptor.finalize()
        if not (0 <= boots < 1 << 32 and 0 <= engine_time < 1 << 32):
            raise DecryptionError("engine boots/time out of range")
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
        decryptor = Cipher(self._cipher, CFB(iv)).decryptor()
        return decryptor.update(data) + decryptor.finalize()


class KeyCache:
    """Password keys per (hash, password), localized keys per (user, engine, protocols).

    Passwords are never kept: cache keys hold a keyed BLAKE2 digest of them (the key is
    random per process), so a changed password (a reload) gets new keys.

    >>> cache = KeyCache()
    >>> keys = cache.keys(b"u", b"\\x80\\x00\\x00\\x01", "sha", b"password1", None, None)
    >>> len(keys.auth_key), keys.priv is None
    (20, True)
    """

    MAX_ENTRIES: Final = 65_536  # a bound, far above devices x users; cleared when reached

    def __init__(self) -> None:
        self._salt = os.urandom(16)
        self._ku: dict[tuple[str, bytes], bytes] = {}
        self._kul: dict[tuple[object, ...], UserKeys] = {}

    def _fingerprint(self, password: bytes) -> bytes:
        return hashlib.blake2b(password, key=self._salt, digest_size=16).digest()

    def cached(
        self,
        user: bytes,
        engine_id: bytes,
        auth: str | None,
        auth_password: bytes | None,
        priv: str | None,
        priv_password: bytes | None,
    ) -> UserKeys | None:
        """The keys if already computed (cheap: no 1 MiB hash), else ``None``."""
        return self._kul.get(self._id(user, engine_id, auth, auth_password, priv, priv_password))

    def _id(
        self,
        user: bytes,
        engine_id: bytes,
        auth: str | None,
        auth_password: bytes | None,
        priv: str | None,
        priv_password: bytes | None,
    ) -> tuple[object, ...]:
        return (
            user, engine_id, auth, priv,
            self._fingerprint(auth_password) if auth_password else None,
            self._fingerprint(priv_password) if priv_password else None,
        )  # fmt: skip

    def keys(
        self,
        user: bytes,
        engine_id: bytes,
        auth: str | None,
        auth_password: bytes | None,
        priv: str | None,
        priv_password: bytes | None,
    ) -> UserKeys:
        """The user's localized keys for ``engine_id`` (computed at most once). May take a
        few ms (the 1 MiB hash per new password): call it from a thread if that matters."""
        ident = self._id(user, engine_id, auth, auth_password, priv, priv_password)
        found = self._kul.get(ident)
        if found is not None:
            return found
        if len(self._kul) >= self.MAX_ENTRIES:
            self._kul.clear()
            self._ku.clear()
        auth_proto = AUTH_PROTOCOLS[auth] if auth and auth_password else None
        auth_key = priv_key = b""
        priv_proto = None
        if auth_proto is not None and auth_password:
            auth_key = localize(
                self._ku_of(auth_password, auth_proto), engine_id, auth_proto.hash_name
            )
            if priv and priv_password:
                priv_proto = PRIV_PROTOCOLS[priv]
                hash_name = auth_proto.hash_name
                kul = localize(self._ku_of(priv_password, auth_proto), engine_id, hash_name)
                priv_key = extend(
                    kul, engine_id, hash_name, priv_proto.key_length, priv_proto.extension
                )
        keys = UserKeys(auth_proto, auth_key, priv_proto, priv_key)
        self._kul[ident] = keys
        return keys

    def _ku_of(self, password: bytes, auth: AuthProtocol) -> bytes:
        ident = (auth.hash_name, self._fingerprint(password))
        ku = self._ku.get(ident)
        if ku is None:
            ku = self._ku[ident] = password_to_key(password, auth.hash_name)
        return ku
