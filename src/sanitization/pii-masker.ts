import { createHmac } from 'node:crypto';
import type { MaskStyle } from '../config/app-config';

/** A mask built while a long value streams past (suppression): only its length and hash are kept. */
export interface RunMask {
  update(text: string): void;
  finish(): string;
}

const MAX_STARS = 32;

const PARTIAL_LAST_FOUR = new Set(['card', 'phone', 'iban', 'ssn']);

function keepLastFour(value: string): string {
  let kept = 0;
  let out = '';
  for (let i = value.length - 1; i >= 0; i--) {
    const c = value.charAt(i);
    if (/[A-Za-z0-9]/.test(c)) {
      out = (kept < 4 ? c : '*') + out;
      kept++;
    } else out = c + out;
  }
  return out;
}

export class PiiMasker {
  private readonly labels = new Map<string, string>();

  constructor(
    private readonly style: MaskStyle,
    private readonly hashKey: string,
  ) {}

  mask(entity: string, value: string): string {
    switch (this.style) {
      case 'label':
        return this.label(entity);
      case 'asterisks':
        return '*'.repeat(Math.min(value.length, MAX_STARS));
      case 'partial':
        if (entity === 'email') return `****${value.slice(value.lastIndexOf('@'))}`;
        return PARTIAL_LAST_FOUR.has(entity) ? keepLastFour(value) : this.label(entity);
      case 'hash':
        return this.hashed(entity, createHmac('sha256', this.hashKey).update(value).digest('hex'));
    }
  }

  /** For a value too long to hold: fed piece by piece, masked at the end (partial: the label). */
  run(entity: string): RunMask {
    const hmac = this.style === 'hash' ? createHmac('sha256', this.hashKey) : null;
    let length = 0;
    return {
      update: (text) => {
        length += text.length;
        hmac?.update(text);
      },
      finish: () => {
        if (hmac !== null) return this.hashed(entity, hmac.digest('hex'));
        return this.style === 'asterisks' ? '*'.repeat(Math.min(length, MAX_STARS)) : this.label(entity);
      },
    };
  }

  private label(entity: string): string {
    let label = this.labels.get(entity);
    if (label === undefined) {
      label = `[${entity.toUpperCase()}]`;
      this.labels.set(entity, label);
    }
    return label;
  }

  private hashed(entity: string, hex: string): string {
    return `${this.label(entity).slice(0, -1)}:${hex.slice(0, 8)}]`;
  }
}
