"""The USM's keys, MACs and ciphers against published vectors and against each other."""

from __future__ import annotations

import pytest

from netwatch.probes import snmp_usm as usm

ENGINE = bytes.fromhex("000000000000000000000002")  # RFC 3414 A.3


@pytest.mark.parametrize(
    ("hash_name", "ku", "kul"),
    [
        # RFC 3414 A.3.1 (MD5) and A.3.2 (SHA), password "maplesyrup".
        ("md5", "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),
        (
            "sha1",
            "9fb5cc0381497b3793528939ff788d5d79145211",
            "6695febc9288e36282235fc7151f128497b38f3f",
        ),
    ],
)
def test_rfc3414_password_to_key_vectors(hash_name: str, ku: str, kul: str) -> None:
    """Password-to-key and localization give RFC 3414 A.3's keys."""
    key = usm.password_to_key(b"maplesyrup", hash_name)
    assert key.hex() == ku
    assert usm.localize(key, ENGINE, hash_name).hex() == kul


def test_sha2_keys_have_the_hash_length_and_match_hashlib() -> None:
    """RFC 7860 keys: the same password-to-key with SHA-2 (no vectors in the RFC); checked
    against a plain hashlib computation of the definition."""
    import hashlib

    for name, size in (("sha224", 28), ("sha256", 32), ("sha384", 48), ("sha512", 64)):
        key = usm.password_to_key(b"maplesyrup", name)
        expected = hashlib.new(name, (b"maplesyrup" * 104858)[:1048576]).digest()
        assert key == expected
        assert len(usm.localize(key, ENGINE, name)) == size


@pytest.mark.parametrize(
    ("auth", "length"),
    [("md5", 12), ("sha", 12), ("sha224", 16), ("sha256", 24), ("sha384", 32), ("sha512", 48)],
)
def test_mac_truncations(auth: str, length: int) -> None:
    """HMAC-*-96 and RFC 7860's 128/192/256/384-bit truncations."""
    import hmac

    proto = usm.AUTH_PROTOCOLS[auth]
    keys = usm.UserKeys(proto, b"k" * 32, None, b"")
    digest = keys.mac(b"message")
    assert len(digest) == length
    assert digest == hmac.digest(b"k" * 32, b"message", proto.hash_name)[:length]
    assert keys.mac(b"message") == digest  # the kept HMAC state is copied, not consumed
    assert keys.verify(b"message", digest)
    assert not keys.verify(b"messagE", digest)


def test_blumenthal_and_reeder_extensions_differ_and_follow_their_drafts() -> None:
    """AES-256 from a SHA-1 key: Blumenthal appends H(Kul), Reeder a re-derived key."""
    import hashlib

    kul = usm.localize(usm.password_to_key(b"maplesyrup", "sha1"), ENGINE, "sha1")
    blumenthal = usm.extend(kul, ENGINE, "sha1", 32, "blumenthal")
    reeder = usm.extend(kul, ENGINE, "sha1", 32, "reeder")
    assert blumenthal[:20] == reeder[:20] == kul
    assert blumenthal[20:] == hashlib.sha1(kul).digest()[:12]
    again = usm.localize(usm.password_to_key(kul, "sha1"), ENGINE, "sha1")
    assert reeder[20:] == again[:12]


@pytest.mark.parametrize("priv", sorted(usm.PRIV_PROTOCOLS))
def test_encrypt_decrypt_round_trip(priv: str) -> None:
    """Each privacy protocol decrypts what it encrypted; the salt changes every message."""
    proto = usm.PRIV_PROTOCOLS[priv]
    keys = usm.UserKeys(None, b"", proto, bytes(range(proto.key_length)))
    plain = b"\x30\x05\x04\x00\x04\x01x" * 5
    one, salt1 = keys.encrypt(7, 1234, plain)
    two, salt2 = keys.encrypt(7, 1234, plain)
    assert salt1 != salt2
    assert one != two
    out = keys.decrypt(7, 1234, salt1, one)
    assert out[: len(plain)] == plain


def test_aes_cfb_matches_rfc3826_iv_layout() -> None:
    """RFC 3826 3.1.2.1: IV = boots(4) | time(4) | salt(8), AES in CFB-128 mode."""
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    key = bytes(16)
    data, salt = usm.UserKeys(None, b"", usm.PRIV_PROTOCOLS["aes"], key).encrypt(
        3, 99, b"hello world"
    )
    iv = (3).to_bytes(4, "big") + (99).to_bytes(4, "big") + salt
    decryptor = Cipher(algorithms.AES(key), CFB(iv)).decryptor()
    assert decryptor.update(data) + decryptor.finalize() == b"hello world"


def test_bad_ciphertexts_are_decryption_errors() -> None:
    """A DES ciphertext that is not whole blocks, or a short salt, is refused."""
    des = usm.UserKeys(None, b"", usm.PRIV_PROTOCOLS["des"], bytes(16))
    aes = usm.UserKeys(None, b"", usm.PRIV_PROTOCOLS["aes"], bytes(16))
    with pytest.raises(usm.DecryptionError):
        des.decrypt(1, 1, bytes(8), b"abc")
    with pytest.raises(usm.DecryptionError):
        aes.decrypt(1, 1, bytes(4), b"abc")


def test_key_cache_computes_each_password_key_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Password-to-key (1 MiB of hashing) runs once per (hash, password), whatever the
    engines; a changed password gets new keys; the cache's repr shows no key."""
    calls: list[str] = []
    real = usm.password_to_key

    def counting(password: bytes, hash_name: str) -> bytes:
        calls.append(hash_name)
        return real(password, hash_name)

    monkeypatch.setattr(usm, "password_to_key", counting)
    cache = usm.KeyCache()
    a = cache.keys(b"u", b"engine-a", "sha256", b"password-1", "aes", b"password-2")
    b = cache.keys(b"u", b"engine-b", "sha256", b"password-1", "aes", b"password-2")
    assert cache.keys(b"u", b"engine-a", "sha256", b"password-1", "aes", b"password-2") is a
    assert len(calls) == 2  # auth and priv passwords, once each
    assert a.auth_key != b.auth_key  # localized per engine
    c = cache.keys(b"u", b"engine-a", "sha256", b"password-X", "aes", b"password-2")
    assert c.auth_key != a.auth_key
    assert len(calls) == 3
    assert a.auth_key.hex() not in repr(a)
    assert "password" not in repr(a)
