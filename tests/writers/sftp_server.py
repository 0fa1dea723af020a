"""A loopback SFTP server for the import writer's tests, run as a subprocess.

    python sftp_server.py ROOT HOST_KEY USER [--port P] [--password PW]
                          [--authorized-keys FILE] [--crash-at-file N]

It listens on 127.0.0.1 (a free port unless --port is given), prints
``READY <port>`` and serves SFTP chrooted to ROOT. With ``--crash-at-file N`` the
process dies, as a killed server would, after writing half of the first block of
the N-th file opened for writing: a partial file stays and the client's
connection drops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import asyncssh

_opened_for_write = 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("host_key")
    parser.add_argument("user")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--password")
    parser.add_argument("--authorized-keys")
    parser.add_argument("--crash-at-file", type=int)
    return parser.parse_args()


def _server_class(args: argparse.Namespace) -> type[asyncssh.SSHServer]:
    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return args.password is not None

        def validate_password(self, username: str, password: str) -> bool:
            return bool(username == args.user and password == args.password)

        def public_key_auth_supported(self) -> bool:
            return args.authorized_keys is not None

    return Server


def _sftp_class(args: argparse.Namespace) -> type[asyncssh.SFTPServer]:
    class ChrootedSftp(asyncssh.SFTPServer):
        def __init__(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
            super().__init__(chan, chroot=args.root.encode())
            self._doomed: object | None = None

        def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Any:
            global _opened_for_write
            handle = super().open(path, pflags, attrs)
            if pflags & asyncssh.FXF_WRITE:
                _opened_for_write += 1
                if _opened_for_write == args.crash_at_file:
                    self._doomed = handle
            return handle

        def write(self, file_obj: object, offset: int, data: bytes) -> Any:
            if file_obj is self._doomed:
                super().write(file_obj, offset, data[: len(data) // 2])
                file_obj.flush()  # type: ignore[attr-defined]
                os._exit(3)  # a crash: no goodbye, the socket just goes away
            return super().write(file_obj, offset, data)

    return ChrootedSftp


async def _serve(args: argparse.Namespace) -> None:
    server = await asyncssh.listen(
        "127.0.0.1",
        args.port,
        server_host_keys=[args.host_key],
        authorized_client_keys=args.authorized_keys,
        server_factory=_server_class(args),
        sftp_factory=_sftp_class(args),
        allow_scp=False,
    )
    print("READY", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(_arguments()))
