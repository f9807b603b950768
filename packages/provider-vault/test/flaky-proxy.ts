/**
 * A TCP proxy on 127.0.0.1 in front of a real Vault that fails the first connections it accepts,
 * then forwards the others untouched: `reset` answers a connection with a TCP RST (the client sees
 * ECONNRESET), `hang` accepts it and never answers (the client's timeout fires). It counts the
 * connections it failed and the HTTP requests it forwarded (request lines in the forwarded bytes).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type FailureMode = 'reset' | 'hang';

const REQUEST_LINE = /(?:GET|POST|PUT|DELETE|LIST) \/v1\/\S* HTTP\/1\.[01]\r\n/g;

export class FlakyProxy {
  /** Connections failed so far. */
  failed = 0;
  /** HTTP requests forwarded to Vault so far. */
  forwarded = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Fails the first `failFirst` connections (`Infinity`: all of them) the way `mode` says. */
  static async start(
    target: string,
    failFirst: number,
    mode: FailureMode = 'reset',
  ): Promise<FlakyProxy> {
    const upstream = new URL(target);
    let proxy: FlakyProxy | undefined;
    const server = createServer((client) => {
      const self = proxy as FlakyProxy;
      self.track(client);
      if (self.failed < failFirst) {
        self.failed++;
        if (mode === 'reset') client.resetAndDestroy();
        else client.on('data', () => undefined); // read and never answer
        return;
      }
      const vault = self.track(connect(Number(upstream.port), upstream.hostname));
      let tail = '';
      client.on('data', (chunk: Buffer) => {
        // A request line split across two chunks is still counted once.
        const text = tail + chunk.toString('latin1');
        self.forwarded += text.match(REQUEST_LINE)?.length ?? 0;
        tail = text.slice(-512).replace(REQUEST_LINE, '');
      });
      client.pipe(vault).pipe(client);
      const end = () => {
        client.destroy();
        vault.destroy();
      };
      client.on('error', end).on('close', end);
      vault.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    proxy = new FlakyProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
