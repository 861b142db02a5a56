import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { AuthService } from '../auth/auth.service';
import type { Principal } from '../contract/principal';
import { DomainError, RequestErrorCode } from '../contract/error-code';
import type { MuxSession } from './multiplexer/connection-state';
import { closeWith, deniedBy } from './ws-errors';

/** Frames a connection may send before it has authenticated (an `auth` message is small). */
const MAX_PREAUTH_FRAME = 16_384;

export interface WsAuthSettings {
  timeoutMs: number;
}

/**
 * Authenticates a `/ws/stream` connection: a token on the upgrade (Authorization header, `access_token` query
 * parameter or the cookie), else a first `{"type":"auth","token":...}` message within `ws_auth_timeout`. A
 * connection that fails is told why (an `error` message) and closed with 4401. An authenticated one is closed
 * the same way when its token expires, unless the client sent a fresh one (`auth` again) before, or is revoked.
 */
export function authenticateSocket(
  socket: WebSocket,
  request: IncomingMessage,
  auth: AuthService,
  settings: WsAuthSettings,
  onReady: (session: MuxSession | undefined, announce: boolean) => void,
): void {
  const ready = (principal: Principal, announce: boolean) =>
    onReady(new SocketSession(socket, auth, principal), announce);
  // Auth off: no session, so the multiplexer neither checks permissions nor counts rate limits.
  if (auth.open) return onReady(undefined, false);
  const token = auth.tokenOf(request.headers, request.url, true);
  if (token !== undefined) {
    try {
      return ready(auth.authenticate(token), false);
    } catch (err) {
      return deny(socket, err);
    }
  }
  const timer = setTimeout(
    () =>
      deny(
        socket,
        new DomainError(
          RequestErrorCode.Unauthorized,
          `No credentials: send {"type":"auth","token":"<JWT>"} first (within ${settings.timeoutMs} ms).`,
        ),
      ),
    settings.timeoutMs,
  );
  const first = (data: Buffer, binary: boolean): void => {
    clearTimeout(timer);
    const given = binary || data.length > MAX_PREAUTH_FRAME ? undefined : tokenOf(data.toString('utf8'));
    if (given === undefined) {
      return deny(
        socket,
        new DomainError(
          RequestErrorCode.Unauthorized,
          'Authenticate first: the first message must be {"type":"auth","token":"<JWT>"}.',
        ),
      );
    }
    try {
      ready(auth.authenticate(given), true);
    } catch (err) {
      deny(socket, err);
    }
  };
  socket.once('message', first);
  socket.once('close', () => clearTimeout(timer));
}

/** A connection's identity; closes it (4401) when its token expires or is revoked. */
class SocketSession implements MuxSession {
  private stopWatching: () => void = () => undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly auth: AuthService,
    private current: Principal,
  ) {
    this.watchExpiry();
    socket.once('close', () => this.stopWatching());
  }

  get principal(): Principal {
    return this.current;
  }

  reauthenticate(token: string): Principal {
    const next = this.auth.authenticate(token);
    if (next.userId !== this.current.userId) {
      throw new DomainError(
        RequestErrorCode.Unauthorized,
        'A new token must be for the same user; open another connection for another user.',
      );
    }
    this.current = next;
    this.watchExpiry();
    return next;
  }

  hit(): Promise<void> {
    return this.auth.hit(this.current);
  }

  acquireStream(streamId: string): Promise<() => void> {
    return this.auth.acquireStream(this.current, streamId);
  }

  private watchExpiry(): void {
    this.stopWatching();
    // Expiry (unless a new token came first: watchExpiry runs again) or revocation.
    this.stopWatching = this.auth.whenRevokedOrExpired(this.current, (reason) => deny(this.socket, reason));
  }
}

/** Tells the client why, then closes: 4403 for a refusal (forbidden), 4401 for anything about credentials. */
export function deny(socket: WebSocket, err: unknown): void {
  if (socket.readyState === socket.OPEN) closeWith(socket, deniedBy(err));
}

function tokenOf(text: string): string | undefined {
  try {
    const message = JSON.parse(text) as unknown;
    if (typeof message !== 'object' || message === null) return undefined;
    const { type, token } = message as { type?: unknown; token?: unknown };
    return type === 'auth' && typeof token === 'string' && token !== '' ? token : undefined;
  } catch {
    return undefined;
  }
}
