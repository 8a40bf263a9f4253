import net, { type Socket } from 'node:net';
import type { Server } from 'node:http';

/** How often a draining server looks at its connections. */
const SWEEP_MS = 25;
/** The listener closes once this long has passed without a new connection; a connection, once it has been idle this long. */
const QUIET_MS = 250;

interface Tracked {
  /** Requests of this connection whose response has not closed yet. */
  inFlight: number;
  /** Bytes read as of the last sweep, how many sweeps in a row found the connection idle, and since when. */
  bytesRead: number;
  idleSweeps: number;
  idleSince: number;
}

/**
 * Stops a Node HTTP server without dropping a request that reached it. `http.Server.close()` is not
 * that, in two ways that show on a busy server (the event loop behind):
 *
 * - it closes the listener at once, and the kernel resets every connection still in its accept queue
 *   (on a loaded machine a client's handshake completes on the server side well after the client saw
 *   it connected). So the listener stays open until QUIET_MS pass with no new connection, looked at
 *   after the event loop has polled for them;
 * - it destroys every connection on which its parser has not seen a request yet, which includes those
 *   whose request sits unread in the socket buffer: 198 of 200 requests sent right before SIGTERM were
 *   reset. So a connection is closed only once it is idle: no request in flight and no byte read for
 *   QUIET_MS and at two sweeps in a row, between which the event loop has read whatever was waiting
 *   (the kernel, loaded, may hand over a request's bytes well after the connection was accepted).
 *
 * Responses sent while draining carry `Connection: close` (requestContext), so busy connections close
 * after their answer. Resolves when the last connection has closed.
 */
export function drainable(server: Server): { drain(): Promise<void>; destroyAll(): void } {
  const sockets = new Map<Socket, Tracked>();
  let accepted = 0;
  server.on('connection', (socket: Socket) => {
    accepted += 1;
    sockets.set(socket, { inFlight: 0, bytesRead: 0, idleSweeps: 0, idleSince: Date.now() });
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => {
    const tracked = sockets.get(req.socket);
    if (!tracked) return;
    tracked.inFlight += 1;
    res.once('close', () => {
      tracked.inFlight -= 1;
      tracked.idleSince = Date.now();
    });
  });

  const sweep = () => {
    const now = Date.now();
    for (const [socket, tracked] of sockets) {
      const read = socket.bytesRead;
      if (tracked.inFlight > 0 || read !== tracked.bytesRead) {
        tracked.idleSweeps = 0;
        tracked.idleSince = now;
        tracked.bytesRead = read;
        continue;
      }
      tracked.idleSweeps += 1;
      if (tracked.idleSweeps >= 2 && now - tracked.idleSince >= QUIET_MS) socket.destroy();
    }
  };

  return {
    drain: () =>
      new Promise<void>((resolve) => {
        let seen = accepted;
        let quietSince = Date.now();
        let listening = true;
        // Sweeps run on a timer and each looks after an immediate: a timer turn and the check phase
        // after it have an I/O poll between them, which accepts and reads what was waiting.
        const timer = setInterval(
          () =>
            setImmediate(() => {
              if (listening) {
                if (accepted !== seen) {
                  seen = accepted;
                  quietSince = Date.now();
                } else if (Date.now() - quietSince >= QUIET_MS) {
                  listening = false;
                  // net's close, not http's: stop listening, leave open connections alone.
                  net.Server.prototype.close.call(server, () => {
                    clearInterval(timer);
                    resolve();
                  });
                }
              }
              sweep();
            }),
          SWEEP_MS,
        );
      }),
    destroyAll: () => {
      for (const socket of sockets.keys()) socket.destroy();
    },
  };
}
