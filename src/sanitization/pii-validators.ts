import { isIPv6 } from 'node:net';

// Checks on what a detector's expression matched. Each accept* returns the length of the accepted prefix of the
// match (0: rejected).

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function cardNumberOk(value: string): boolean {
  const groups = value.split(/[ -]/);
  if (groups.length > 1) {
    if (value.includes(' ') && value.includes('-')) return false;
    const lengths = groups.map((g) => g.length);
    const last = lengths.length - 1;
    const byFours = lengths.every((n, i) => (i < last ? n === 4 : n >= 1 && n <= 4));
    const amexLike =
      lengths.length === 3 && lengths[0] === 4 && lengths[1] === 6 && (lengths[2] === 5 || lengths[2] === 4);
    if (!byFours && !amexLike) return false;
  }
  const digits = groups.join('');
  return digits.length >= 13 && digits.length <= 19 && !/^(\d)\1+$/.test(digits) && luhnValid(digits);
}

/** A card number, or a compact one followed by a space and other digits (`4111111111111111 12/25`). */
export function acceptCard(value: string): number {
  if (cardNumberOk(value)) return value.length;
  const space = value.indexOf(' ');
  if (space > 0 && !value.includes('-')) {
    const first = value.slice(0, space);
    if (cardNumberOk(first)) return space;
  }
  return 0;
}

export function ibanValid(compact: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    rest = code >= 65 ? (rest * 100 + code - 55) % 97 : (rest * 10 + code - 48) % 97;
  }
  return rest === 1;
}

/** Compact, or grouped by four; trailing groups are dropped until the checksum holds (`… 7034 THEN`). */
export function acceptIban(value: string): number {
  let candidate = value;
  for (;;) {
    if (ibanValid(candidate.replace(/ /g, ''))) return candidate.length;
    const space = candidate.lastIndexOf(' ');
    if (space <= 4) return 0;
    candidate = candidate.slice(0, space);
  }
}

/** International numbers hold 8..15 digits (E.164); the North American shapes are fixed by the expression. */
export function acceptPhone(value: string): number {
  if (!value.startsWith('+')) return value.length;
  const digits = value.replace(/\D/g, '').length;
  return digits >= 8 && digits <= 15 ? value.length : 0;
}

function ipv6Ok(value: string): boolean {
  return isIPv6(value) && /[1-9a-fA-F]/.test(value);
}

export function acceptIpv6(value: string): number {
  if (ipv6Ok(value)) return value.length;
  if (value.endsWith(':') && !value.endsWith('::') && ipv6Ok(value.slice(0, -1))) return value.length - 1;
  return 0;
}

/** `sk-` keys must hold a digit somewhere: `sk-learn-is-a-python-library` is prose. */
export function acceptSecret(value: string): number {
  if (value.startsWith('sk-') && !/\d/.test(value.slice(3))) return 0;
  return value.length;
}

export function acceptBearer(value: string): number {
  return /\d/.test(value) || (/[a-z]/.test(value) && /[A-Z]/.test(value)) ? value.length : 0;
}
