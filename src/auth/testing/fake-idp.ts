import {
  createHmac,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  sign as cryptoSign,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A signing key of the fake IdP: its private half signs tokens, its public half is served in the JWKS. */
export class SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  constructor(
    readonly kid: string,
    readonly alg: 'RS256' | 'ES256',
  ) {
    const pair =
      alg === 'RS256'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  /** The public JWK as an IdP publishes it (kid, alg, use: sig), plus `extra` members. */
  jwk(extra: Record<string, unknown> = {}): JsonWebKey {
    return {
      ...this.publicKey.export({ format: 'jwk' }),
      kid: this.kid,
      alg: this.alg,
      use: 'sig',
      ...extra,
    };
  }

  /** A token signed with this key; the header names its kid unless `header` says otherwise. */
  sign(payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
    return signJwt(this.alg, this.privateKey, payload, { kid: this.kid, ...header });
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a JWS with node:crypto directly, independent of the code under test (any alg, any key). */
export function signJwt(
  alg: string,
  key: KeyObject | string,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const input = `${b64({ alg, typ: 'JWT', ...header })}.${b64(payload)}`;
  let signature: Buffer;
  if (alg === 'HS256') signature = createHmac('sha256', key).update(input).digest();
  else if (alg === 'ES256') {
    signature = cryptoSign('sha256', Buffer.from(input), {
      key: key as KeyObject,
      dsaEncoding: 'ieee-p1363',
    });
  } else signature = cryptoSign('sha256', Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

/** How the fake IdP answers GET /jwks. */
export type IdpAnswer =
  | { kind: 'jwks' }
  | { kind: 'status'; status: number }
  | { kind: 'body'; body: string }
  /** Headers and part of a body, then nothing (the fetch times out). */
  | { kind: 'stall' };

/**
 * A loopback identity provider serving a JWKS at `/jwks` (node:http), whose keys and answers a test changes
 * (rotation, outages, garbage), and which counts the fetches.
 */
export class FakeIdp {
  keys: SigningKey[] = [];
  answer: IdpAnswer = { kind: 'jwks' };
  /** GET /jwks requests received. */
  fetches = 0;
  /** When the last one came (ms since the epoch). */
  lastFetchAt = 0;
  private port = 0;
  private readonly stalled = new Set<ServerResponse>();

  private constructor(private server: Server) {}

  static async start(...keys: SigningKey[]): Promise<FakeIdp> {
    const idp = new FakeIdp(createServer());
    idp.keys = keys;
    await idp.listen();
    return idp;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/jwks`;
  }

  /** Stops answering (connections refused), keeping the port for `restart`. */
  async stop(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.stalled.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async restart(): Promise<void> {
    this.server = createServer();
    await this.listen();
  }

  close(): Promise<void> {
    return this.server.listening ? this.stop() : Promise.resolve();
  }

  private async listen(): Promise<void> {
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    this.fetches++;
    this.lastFetchAt = Date.now();
    const answer = this.answer;
    switch (answer.kind) {
      case 'jwks':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: this.keys.map((k) => k.jwk()) }));
        return;
      case 'status':
        res.writeHead(answer.status, { 'content-type': 'text/plain' }).end('no');
        return;
      case 'body':
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer.body);
        return;
      case 'stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys": [');
        this.stalled.add(res);
        return;
    }
  }
}
