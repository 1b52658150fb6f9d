"""Keys bound to exactly one algorithm, looked up by `kid`.

A `SigningKey` is parsed once (when the key ring is built) and holds joserfc's key and algorithm
objects, so verifying a token costs one dictionary lookup plus the signature check itself. Nothing
here ever reads an algorithm or key material from a token: the token only names a `kid`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws as _jws  # importing jws registers the algorithm objects
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from fastauth.errors import ConfigError
from fastauth.tokens.algorithms import ALGORITHMS, HMAC_MIN_SECRET
from fastauth.tokens.codec import standard_segment
from fastauth.tokens.kinds import KINDS
from fastauth.tokens.pem import PrivateKey, PublicKey, check_fits, load_pem_pair, public_der

__all__ = ["KeyRing", "SigningKey"]

_JoseKey = OctKey | RSAKey | ECKey | OKPKey
_PUBLIC_MEMBERS = frozenset({"kty", "n", "e", "crv", "x", "y"})


def _alg_model(alg: str) -> JWSAlgModel:
    if alg not in ALGORITHMS:
        raise ConfigError(f"unsupported algorithm {alg!r}")
    return _jws.JWSRegistry.algorithms[alg]


#: RFC 8017 §9.2 note 1: the DER `DigestInfo` that precedes the hash in an RSASSA-PKCS1-v1_5 signature.
_PKCS1_DIGEST_INFO: dict[str, tuple[bytes, Callable[[bytes], Any]]] = {
    "RS256": (bytes.fromhex("3031300d060960864801650304020105000420"), hashlib.sha256),
    "RS384": (bytes.fromhex("3041300d060960864801650304020205000430"), hashlib.sha384),
    "RS512": (bytes.fromhex("3051300d060960864801650304020305000440"), hashlib.sha512),
}
_PKCS1 = padding.PKCS1v15()


def _bind_verify(alg: str, model: JWSAlgModel, key: _JoseKey) -> Callable[[bytes, bytes], bool]:
    """The signature check for one key, with everything that does not depend on the token done once.

    - HS*: joserfc's secret and hash, one `hmac.digest` and a constant-time comparison.
    - RS*: encode-and-compare, the verification RFC 8017 §8.2.2 specifies: `cryptography` undoes the
      RSA operation and checks the `00 01 FF..FF 00` padding; the rest must equal, byte for byte,
      the `DigestInfo` of this algorithm's hash of the signing input. Nothing is parsed, so there is
      no lenient ASN.1 to exploit (the 2006 Bleichenbacher forgery), and the signature must be
      exactly the modulus length. It gives the same answers as `verify` (tested) and skips the
      per-call digest set-up that costs `verify` about 2 us, which matters on every request.
    - PS*: joserfc's padding and hash objects, built once, with `cryptography`'s `verify`, after the
      same exact-length check.
    - ES* and EdDSA: joserfc's `model.verify` itself (its r||s handling and key checks).
    """
    family = ALGORITHMS[alg].family
    if family == "HMAC":
        secret: bytes = key.get_op_key("verify")  # type: ignore[assignment]
        if not secret:
            raise ConfigError("an HMAC key must not be empty")
        digest = model.hash_alg  # type: ignore[attr-defined]

        def check_hmac(signing_input: bytes, signature: bytes) -> bool:
            return hmac.compare_digest(hmac.digest(secret, signing_input, digest), signature)

        return check_hmac
    if family in ("RSA", "RSA-PSS"):
        public = key.get_op_key("verify")
        if not isinstance(public, rsa.RSAPublicKey):
            raise ConfigError(f"{alg} needs an RSA key")
        size = (public.key_size + 7) // 8  # k, the modulus length in octets
        if alg in _PKCS1_DIGEST_INFO:
            prefix, hash_fn = _PKCS1_DIGEST_INFO[alg]

            def check_pkcs1(signing_input: bytes, signature: bytes) -> bool:
                if len(signature) != size:
                    return False
                try:
                    encoded = public.recover_data_from_signature(signature, _PKCS1, None)
                except InvalidSignature:
                    return False
                return hmac.compare_digest(encoded, prefix + hash_fn(signing_input).digest())

            return check_pkcs1
        pss, hash_alg = model.padding, model.hash_alg()  # type: ignore[attr-defined]

        def check_pss(signing_input: bytes, signature: bytes) -> bool:
            # RFC 8017 §8.1.2 step 1: exactly k octets. `verify` alone takes a zero-led signature
            # without its leading zero too, a second spelling of the same token.
            if len(signature) != size:
                return False
            try:
                public.verify(signature, signing_input, pss, hash_alg)
            except InvalidSignature:
                return False
            return True

        return check_pss

    def check_model(signing_input: bytes, signature: bytes) -> bool:
        return bool(model.verify(signing_input, signature, key))

    return check_model


_SHA: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _bind_sign(alg: str, model: JWSAlgModel, key: _JoseKey) -> Callable[[bytes], bytes]:
    """The signature of a signing input for one private key, with the per-key set-up done once.

    The same primitives joserfc's `model.sign` calls, without its per-call key look-up and hash object:
    HS* one `hmac.digest`; RS*/PS* `cryptography`'s `sign` with padding and hash built once; ES* the DER
    signature turned into the fixed-size `r || s` JWS requires (RFC 7518 §3.4); EdDSA `sign`.
    """
    row = ALGORITHMS[alg]
    op_key: Any = key.get_op_key("sign")
    if row.family == "HMAC":
        secret: bytes = op_key
        if not secret:
            raise ConfigError("an HMAC key must not be empty")
        name = row.hash

        def sign_hmac(signing_input: bytes) -> bytes:
            return hmac.digest(secret, signing_input, name)  # type: ignore[arg-type]

        return sign_hmac
    if row.family in ("RSA", "RSA-PSS"):
        if not isinstance(op_key, rsa.RSAPrivateKey):
            raise ConfigError(f"{alg} needs an RSA private key")
        rsa_key = op_key
        rsa_hash = model.hash_alg()  # type: ignore[attr-defined]
        rsa_padding = model.padding  # type: ignore[attr-defined]

        def sign_rsa(signing_input: bytes) -> bytes:
            return rsa_key.sign(signing_input, rsa_padding, rsa_hash)

        return sign_rsa
    if row.family == "EC":
        if not isinstance(op_key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{alg} needs an EC private key")
        ec_key = op_key
        ecdsa = ec.ECDSA(_SHA[row.hash or ""]())
        size = (ec_key.curve.key_size + 7) // 8

        def sign_ec(signing_input: bytes) -> bytes:
            r, s = decode_dss_signature(ec_key.sign(signing_input, ecdsa))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    if not isinstance(op_key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{alg} needs an Ed25519 private key")
    return op_key.sign


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """One key, one algorithm, one `kid`. `can_sign` is False for verification-only keys."""

    kid: str
    alg: str
    key: _JoseKey = field(repr=False)
    model: JWSAlgModel = field(repr=False)
    can_sign: bool
    #: The signature check, bound once to the key (see `_bind_verify`).
    _check: Callable[[bytes, bytes], bool] = field(repr=False, compare=False)
    #: The signer, bound once to the private key (see `_bind_sign`); None for verification-only keys.
    _signer: Callable[[bytes], bytes] | None = field(repr=False, compare=False)
    #: `typ` -> the encoded header segment and its `.`, as bytes: what every signing input starts with.
    _prefixes: dict[str, bytes] = field(repr=False, compare=False)

    @classmethod
    def from_secret(cls, secret: str | bytes, alg: str = "HS256", kid: str | None = None) -> SigningKey:
        """An HMAC key. Refuses secrets shorter than the hash output (32/48/64 bytes)."""
        if alg not in HMAC_MIN_SECRET:
            raise ConfigError(f"{alg} is not an HMAC algorithm; use from_pem or from_keys.")
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(raw) < HMAC_MIN_SECRET[alg]:
            raise ConfigError(f"{alg} needs a secret of at least {HMAC_MIN_SECRET[alg]} bytes.")
        if kid is None:
            # Derived through HMAC so the kid reveals nothing about the secret.
            digest = hmac.new(raw, b"fastauth key id", hashlib.sha256).digest()
            kid = "hs-" + base64.urlsafe_b64encode(digest[:12]).decode("ascii")
        try:
            key = OctKey.import_key(raw)
        except ValueError:  # joserfc refuses a public key (PEM, DER, OpenSSH, certificate) as a secret
            raise ConfigError(
                f"the {alg} secret looks like an asymmetric public key; use random bytes "
                "(`fastauth generate-secret`) or an asymmetric algorithm with private_key."
            ) from None
        return cls._make(kid, alg, key, can_sign=True)

    @classmethod
    def from_keys(
        cls, alg: str, private: PrivateKey | None, public: PublicKey, kid: str | None = None
    ) -> SigningKey:
        """An asymmetric key from `cryptography` objects; `kid` defaults to the RFC 7638 thumbprint."""
        row = ALGORITHMS.get(alg)
        if row is None or row.is_hmac:
            raise ConfigError(f"{alg} is not an asymmetric algorithm; use from_secret.")
        # The same type/curve/size checks as PEM keys get: a wrong key is a ConfigError saying what to
        # fix, never joserfc's TypeError, and never an RSA key under 2048 bits or an Ed448 key.
        if private is not None:
            check_fits(alg, private, "private key")
            if public_der(private.public_key()) != public_der(public):
                raise ConfigError(
                    "the public key does not belong to the private key; give the matching pair."
                )
        check_fits(alg, public, "public key")
        key_cls: type[RSAKey] | type[ECKey] | type[OKPKey]
        if row.key_type == "RSA":
            key_cls = RSAKey
        elif row.key_type == "EC":
            key_cls = ECKey
        else:
            key_cls = OKPKey
        key = key_cls.import_key(private if private is not None else public)  # type: ignore[arg-type]
        return cls._make(kid or key.thumbprint(), alg, key, can_sign=private is not None)

    @classmethod
    def from_pem(
        cls, alg: str, private_pem: str | None, public_pem: str | None = None, kid: str | None = None
    ) -> SigningKey:
        """An asymmetric key from PEM text, checked as `JWTConfig` checks it."""
        private, public = load_pem_pair(alg, private_pem, public_pem)
        return cls.from_keys(alg, private, public, kid)

    @classmethod
    def _make(cls, kid: str, alg: str, key: _JoseKey, *, can_sign: bool) -> SigningKey:
        if not kid or len(kid) > 128:
            raise ConfigError("a key id (kid) must be 1 to 128 characters.")
        model = _alg_model(alg)
        model.check_key(key)  # joserfc's own type/curve check: a second line behind load_pem_pair
        return cls(
            kid=kid,
            alg=alg,
            key=key,
            model=model,
            can_sign=can_sign,
            _check=_bind_verify(alg, model, key),
            _signer=_bind_sign(alg, model, key) if can_sign else None,
            _prefixes={kind.typ: _signing_prefix(alg, kid, kind.typ) for kind in KINDS.values()},
        )

    @property
    def is_hmac(self) -> bool:
        """True for an HS* key (a shared secret, never published)."""
        return ALGORITHMS[self.alg].is_hmac

    def header_segment(self, typ: str) -> str:
        """The encoded protected header fastauth writes for this key: `{alg, kid, typ}`, in that order."""
        return _header_segment(self.alg, self.kid, typ)

    def signing_prefix(self, typ: str) -> bytes:
        """`header_segment(typ)` and the `.` after it, as bytes (precomputed for every kind's `typ`)."""
        prefix = self._prefixes.get(typ)
        return prefix if prefix is not None else _signing_prefix(self.alg, self.kid, typ)

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of `signing_input`; `ConfigError` for a verification-only key."""
        signer = self._signer
        if signer is None:
            raise ConfigError(f"key {self.kid} is for verification only; it has no private part.")
        return signer(signing_input)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's signature of `signing_input`."""
        return self._check(signing_input, signature)

    def public_jwk(self) -> dict[str, Any]:
        """The JWK to publish: public members only. HMAC keys are never published."""
        if self.is_hmac:
            raise ConfigError("HMAC keys are secret and are never published in a JWKS.")
        members = {k: v for k, v in self.key.as_dict(private=False).items() if k in _PUBLIC_MEMBERS}
        return {**members, "kid": self.kid, "use": "sig", "alg": self.alg}


def _header_segment(alg: str, kid: str, typ: str) -> str:
    return _b64(json.dumps({"alg": alg, "kid": kid, "typ": typ}, separators=(",", ":")).encode())


def _signing_prefix(alg: str, kid: str, typ: str) -> bytes:
    return _header_segment(alg, kid, typ).encode("ascii") + b"."


class KeyRing:
    """The key that signs now, and every key that may verify, by `kid`.

    Immutable: rotation builds a new ring and swaps it in, so a request never sees half a change.
    HMAC and asymmetric keys never share a ring (RFC 8725 §3.1; no mixed allow-list).
    """

    __slots__ = ("_by_kid", "active", "known_headers")

    def __init__(self, keys: Iterable[SigningKey], active_kid: str | None = None) -> None:
        by_kid: dict[str, SigningKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ConfigError(f"two keys share the kid {key.kid!r}")
            by_kid[key.kid] = key
        if not by_kid:
            raise ConfigError("a key ring needs at least one key")
        if len({key.is_hmac for key in by_kid.values()}) > 1:
            raise ConfigError("HMAC and asymmetric keys cannot share one key ring")
        self._by_kid = by_kid
        #: The exact header segments this ring's keys write, pre-parsed: the verifier's fast path. Built
        #: here from our own keys only, so nothing a client sends can enter it.
        self.known_headers: dict[bytes, tuple[dict[str, Any], SigningKey]] = {
            standard_segment(key.header_segment(typ)): ({"alg": key.alg, "kid": key.kid, "typ": typ}, key)
            for key in by_kid.values()
            for typ in (kind.typ for kind in KINDS.values())
        }
        active: SigningKey | None = None
        if active_kid is not None:
            active = by_kid.get(active_kid)
            if active is None or not active.can_sign:
                raise ConfigError(f"the active key {active_kid!r} is not in the ring or cannot sign")
        else:
            signers = [key for key in by_kid.values() if key.can_sign]
            active = signers[0] if len(signers) == 1 else None
        self.active = active

    @classmethod
    def from_config(cls, config: Any) -> KeyRing:
        """The ring a `FastAuthConfig` describes: its secret (HS*) or its PEM pair."""
        jwt = config.jwt
        if jwt.is_hmac:
            return cls([SigningKey.from_secret(config.secret.get_secret_value(), jwt.algorithm)])
        private, public = jwt.pem_keys()
        if public is None:
            raise ConfigError(
                f"{jwt.algorithm} needs keys: give jwt.private_key (PEM), or let the key store create them "
                "with `await auth.initialize_jwks()`."
            )
        return cls([SigningKey.from_keys(jwt.algorithm, private, public)])

    def get(self, kid: str) -> SigningKey | None:
        """The key named `kid`, or None."""
        return self._by_kid.get(kid)

    def __iter__(self) -> Iterator[SigningKey]:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWKS document (empty for HMAC rings: secrets are never published)."""
        return {"keys": [key.public_jwk() for key in self._by_kid.values() if not key.is_hmac]}
