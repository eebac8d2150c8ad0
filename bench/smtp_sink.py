"""A minimal SMTP receiver on asyncio for benchmarks: accepts everything, keeps nothing, counts messages.

aiosmtpd takes about 150 messages a second per core, which would measure aiosmtpd; this sink only finds the end
of each DATA block. It offers PIPELINING, as Postfix and most servers do (commands are read from the buffer one
line at a time, so pipelined ones need nothing more). `XCOUNT` answers the number of messages received. Run: python bench/smtp_sink.py PORT
"""

from __future__ import annotations

import asyncio
import sys

COUNT = 0
EHLO = b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 52428800\r\n250 HELP\r\n"


class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()
        self.in_data = False
        self.scanned = 0
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, chunk: bytes) -> None:
        global COUNT
        self.buf += chunk
        while self.buf:
            if self.in_data:
                # The message ends at CRLF . CRLF; only the new bytes (and 4 before them) need a look.
                end = self.buf.find(b"\r\n.\r\n", max(0, self.scanned - 4))
                if end < 0:
                    self.scanned = len(self.buf)
                    return
                del self.buf[: end + 5]
                self.in_data, self.scanned = False, 0
                COUNT += 1
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                return
            line = bytes(self.buf[:eol]).upper()
            del self.buf[: eol + 2]
            verb = line[:4]
            if verb in (b"EHLO", b"HELO"):
                self.transport.write(EHLO if verb == b"EHLO" else b"250 sink\r\n")
            elif verb == b"DATA":
                self.in_data, self.scanned = True, 0
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            elif line.startswith(b"XCOUNT"):
                self.transport.write(b"250 %d\r\n" % COUNT)
            else:  # MAIL, RCPT, RSET, NOOP
                self.transport.write(b"250 OK\r\n")


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", port, backlog=64)
    print(f"sink listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 2525))
    except KeyboardInterrupt:
        pass
