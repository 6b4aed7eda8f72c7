"""A loopback TCP proxy a test can cut: `reset()` closes connections, `blackhole()` stops forwarding silently."""

from __future__ import annotations

import asyncio
import threading

from edge.demo.broker import free_port


class CuttableProxy:
    """Runs its own event loop in a thread so it works beside a daemon in another process."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._accepting = True
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._accepting:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if not self._forwarding.is_set():
                        continue  # blackhole: the bytes vanish, as on a dead WAN link
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def _call(self, fn) -> None:  # noqa: ANN001
        self._loop.call_soon_threadsafe(fn)

    def reset(self, refuse: bool = True) -> None:
        """Close every connection (RST-like cut); with `refuse`, new connections are refused until restore."""
        self._accepting = not refuse

        def close_all() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(close_all)

    def blackhole(self) -> None:
        """Stop forwarding without closing anything: the WAN failure only keepalive detects."""
        self._forwarding.clear()

    def restore(self) -> None:
        """Forward and accept again."""
        self._accepting = True
        self._forwarding.set()

    def close(self) -> None:
        """Stop the proxy thread."""
        self.reset()

        def stop() -> None:
            self._server.close()
            self._loop.stop()

        self._call(stop)
        self._thread.join(5)
