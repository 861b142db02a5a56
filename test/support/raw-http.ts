import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
  /** Resolves when the connection closes (the server closes it after a `Connection: close` answer). */
  whenClosed: Promise<void>;
}

/** Opens a TCP connection to the app (http://127.0.0.1:<port>). */
export function openSocket(baseUrl: string): Promise<Socket> {
  const { port, hostname } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Sends bytes as they are (no HTTP client would send most of what tests send here) and reads the first
 * answer: its status line, headers and body (by content-length or chunked), and whether the socket closed.
 */
export async function rawRequest(
  baseUrl: string,
  bytes: string | Buffer,
  timeoutMs = 5000,
): Promise<RawAnswer> {
  const socket = await openSocket(baseUrl);
  socket.on('error', () => undefined);
  socket.write(bytes);
  return readAnswer(socket, timeoutMs);
}

/** Reads one HTTP answer from a socket the test wrote to. */
export function readAnswer(socket: Socket, timeoutMs = 5000): Promise<RawAnswer> {
  const whenClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(data.toString('latin1'))}`));
    }, timeoutMs);
    const tryParse = (): RawAnswer | undefined => {
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = data.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
      let body: string | undefined;
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length >= length) body = rest.subarray(0, length).toString('utf8');
      } else if (headers['transfer-encoding'] === 'chunked') {
        body = dechunk(rest.toString('latin1'));
      } else if (closed) {
        body = rest.toString('utf8');
      }
      if (body === undefined) return undefined;
      return { status: Number(statusLine!.split(' ')[1]), headers, body, whenClosed };
    };
    const finish = () => {
      const answer = tryParse();
      if (!answer) return false;
      clearTimeout(timer);
      resolve(answer);
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      finish();
    });
    socket.once('close', () => {
      closed = true;
      if (!finish()) {
        clearTimeout(timer);
        reject(new Error(`closed without a whole answer: ${JSON.stringify(data.toString('latin1'))}`));
      }
    });
  });
}

/** A chunked body's text, or undefined while its last chunk has not arrived. */
function dechunk(text: string): string | undefined {
  let out = '';
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (size === 0) return Buffer.from(out, 'latin1').toString('utf8');
    if (text.length < lineEnd + 2 + size + 2) return undefined;
    out += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}
