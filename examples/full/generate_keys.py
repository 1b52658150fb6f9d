"""Generate a signing key pair for fastauth: `private.pem` (mode 0600) and `public.pem`.

The same as `fastauth generate-keys`, from Python:

    python examples/full/generate_keys.py --out keys/
    python examples/full/generate_keys.py --algorithm ES256 --out keys/

Then configure fastauth with the private key (the public key is derived from it):

    FASTAUTH_JWT__ALGORITHM=RS256 FASTAUTH_JWT__PRIVATE_KEY="$(cat keys/private.pem)"
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fastauth.errors import ConfigError
from fastauth.keys import ASYMMETRIC_ALGORITHMS, generate_private_key, private_key_to_pem, public_key_to_pem
from fastauth.tokens import SigningKey


def write_new_file(path: Path, text: str, mode: int) -> None:
    """Create `path` with `mode` from the first moment (O_EXCL: never overwrite, never follow a link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    os.fchmod(fd, mode)  # the umask may only have narrowed it; make it exact
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a fastauth signing key pair.")
    parser.add_argument(
        "--algorithm", default="RS256", choices=sorted(ASYMMETRIC_ALGORITHMS), help="default: RS256"
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for private.pem and public.pem")
    parser.add_argument("--bits", type=int, default=2048, help="RSA key size (RS*/PS*), at least 2048")
    args = parser.parse_args(argv)

    private_path, public_path = args.out / "private.pem", args.out / "public.pem"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            parser.error(f"{path} already exists; remove it first")
    try:
        private = generate_private_key(args.algorithm, args.bits)
    except ConfigError as error:
        parser.error(str(error))
    public = private.public_key()

    args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_new_file(private_path, private_key_to_pem(private), 0o600)
    write_new_file(public_path, public_key_to_pem(public), 0o644)

    kid = SigningKey.from_keys(args.algorithm, private, public).kid
    print(f"algorithm: {args.algorithm}")
    print(f"private key: {private_path} (mode 0600, keep it secret)")
    print(f"public key: {public_path}")
    print(f"kid: {kid}")
    print(f'FASTAUTH_JWT__ALGORITHM={args.algorithm} FASTAUTH_JWT__PRIVATE_KEY="$(cat {private_path})"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
