/**
 * A loopback HTTP proxy that counts what passes: the lazy-pull scenario counts the bytes a pull and
 * its reads transfer with it, and the registry tests (test/registry/harness.ts re-exports it) also
 * cut connections with it mid-body.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  /** The `Range` header, when the request had one. */
  readonly range: string | undefined;
  /** Request body bytes the proxy forwarded. */
  bytesIn: number;
  /** Response body bytes the proxy forwarded. */
  bytesOut: number;
  status?: number;
}

/** A rule to cut a connection: after `after` response bytes of the next request it matches. */
export interface Cut {
  readonly match: (method: string, url: string) => boolean;
  readonly after: number;
  /** Cut the request body instead, after `after` bytes of it (an upload). */
  readonly upload?: boolean;
}

export interface Proxy {
  readonly host: string;
  readonly requests: ProxiedRequest[];
  /** Cuts the next matching request (once per call). */
  cut(rule: Cut): void;
  stop(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of `target` (`127.0.0.1:PORT`): it forwards each request as it
 * came (Host header included, so the registry's upload locations name the proxy), records
 * method, URL and body bytes both ways, and, when a `cut` rule matches, destroys the client's
 * connection after so many bytes: a dropped connection mid-blob.
 */
export async function startProxy(target: string): Promise<Proxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const requests: ProxiedRequest[] = [];
  const cuts: Cut[] = [];
  const takeCut = (method: string, url: string, upload: boolean): Cut | undefined => {
    const i = cuts.findIndex((rule) => (rule.upload === true) === upload && rule.match(method, url));
    return i === -1 ? undefined : cuts.splice(i, 1)[0];
  };
  const server: Server = createServer((incoming: IncomingMessage, outgoing) => {
    const record: ProxiedRequest = { method: incoming.method!, url: incoming.url!, range: incoming.headers.range, bytesIn: 0, bytesOut: 0 };
    requests.push(record);
    const uploadCut = takeCut(record.method, record.url, true);
    const downloadCut = takeCut(record.method, record.url, false);
    const upstream = httpRequest({ host: targetHost, port: Number(targetPort), method: incoming.method, path: incoming.url, headers: incoming.headers }, (response) => {
      record.status = response.statusCode;
      outgoing.writeHead(response.statusCode!, response.statusMessage, response.headers);
      response.on('data', (chunk: Buffer) => {
        if (downloadCut !== undefined && record.bytesOut + chunk.length > downloadCut.after) {
          const part = chunk.subarray(0, Math.max(0, downloadCut.after - record.bytesOut));
          record.bytesOut += part.length;
          outgoing.write(part, () => incoming.socket.destroy());
          response.destroy();
          return;
        }
        record.bytesOut += chunk.length;
        outgoing.write(chunk);
      });
      response.on('end', () => outgoing.end());
    });
    upstream.on('error', () => incoming.socket.destroy());
    incoming.on('data', (chunk: Buffer) => {
      if (uploadCut !== undefined && record.bytesIn + chunk.length > uploadCut.after) {
        upstream.destroy();
        incoming.socket.destroy();
        return;
      }
      record.bytesIn += chunk.length;
      upstream.write(chunk);
    });
    incoming.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    cut: (rule) => cuts.push(rule),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
