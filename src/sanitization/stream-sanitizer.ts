import { inSet } from './pii-detectors';
import type { RunMask } from './pii-masker';
import { CONTEXT_CHARS, type Candidate, type PiiRuleSet, type SecretRun } from './pii-rule-set';

/**
 * Masks one stream of text arriving in chunks (LLM deltas), so that `push(c1) + … + push(cn) + flush()` equals
 * `mask(c1 + … + cn)` whenever every entity is shorter than the hold-back bound.
 *
 * Each push works on `context + held + chunk` only. The cut is the earliest index where some detector's attempt
 * could still read past the end (PiiRuleSet.openStart), moved back before any candidate that crosses it; the text
 * before the cut is final and is emitted masked, the rest is held. The last CONTEXT_CHARS raw characters before the
 * cut are kept so that look-behinds (`version `, `Bearer `, "not inside a longer run") see the same text again.
 *
 * Past the bound (maxHoldback): a run that starts like a secret (`sk-`, `eyJ`, `AKIA`, `Bearer <token>`…) is
 * swallowed until it ends and then replaced by one mask; anything else releases its oldest characters.
 */
export class StreamSanitizer {
  private context = '';
  private pending = '';
  private suppressed: Suppression | null = null;

  constructor(private readonly rules: PiiRuleSet) {}

  /** Characters currently held back. */
  get held(): number {
    return this.pending.length;
  }

  /** Text safe to emit now ('' when everything is held). */
  push(chunk: string): string {
    if (!this.rules.enabled) return chunk;
    if (chunk.length === 0) return '';
    let rest = chunk;
    let out = '';
    if (this.suppressed !== null) {
      const stop = this.suppressed.consume(rest, 0);
      if (stop === rest.length) return '';
      out = this.endSuppression();
      rest = rest.slice(stop);
    }
    return out + this.advance(rest);
  }

  /** The rest, masked: call once, at the stream's end. */
  flush(): string {
    if (!this.rules.enabled) return '';
    let out = this.suppressed !== null ? this.endSuppression() : '';
    if (this.pending.length > 0) {
      const text = this.context + this.pending;
      const from = this.context.length;
      out += this.rules.render(text, from, text.length, this.rules.select(this.rules.candidates(text, from)));
    }
    this.pending = '';
    this.context = '';
    return out;
  }

  private advance(chunk: string): string {
    const rules = this.rules;
    const limit = rules.maxHoldback;
    const text = this.context + this.pending + chunk;
    const from = this.context.length;
    const end = text.length;
    let cut = rules.openStart(text, from);
    let candidates: Candidate[] | null = null;
    let forced = false;

    if (end - cut > limit) {
      const run = rules.secretRun(text, from, end - limit - 1);
      if (run !== null) {
        candidates = rules.candidates(text, from);
        if (!candidates.some((c) => c.start < run.start && c.end > run.start)) {
          return this.startSuppression(text, from, run, candidates);
        }
      }
      forced = true;
      cut = end - limit;
    }
    if (cut <= from) return this.hold(text, from);

    candidates ??= rules.candidates(text, from);
    if (!forced) {
      // A candidate that crosses the cut is settled but its end is not: cut before it (and before any that
      // crosses the new cut), so the next push scans from where the whole text's scan would be.
      for (let moved = true; moved;) {
        moved = false;
        for (const c of candidates) {
          if (c.start < cut && c.end > cut) {
            cut = c.start;
            moved = true;
          }
        }
      }
      if (end - cut > limit) {
        forced = true;
        cut = end - limit;
      }
    }
    const chosen = rules.select(candidates);
    if (forced) {
      // Releasing the oldest characters: a chosen match that crosses the cut is masked whole, never split.
      for (const m of chosen) if (m.start < cut && m.end > cut) cut = m.end;
    }
    if (cut <= from) return this.hold(text, from);
    const out = rules.render(text, from, cut, chosen);
    this.pending = text.slice(cut);
    this.context = text.slice(Math.max(0, cut - CONTEXT_CHARS), cut);
    return out;
  }

  private hold(text: string, from: number): string {
    this.pending = text.slice(from);
    return '';
  }

  private startSuppression(text: string, from: number, run: SecretRun, candidates: Candidate[]): string {
    const out = this.rules.render(text, from, run.start, this.rules.select(candidates));
    const suppressed = new Suppression(
      run,
      this.rules.masker.run('secret'),
      text.slice(Math.max(0, run.start - CONTEXT_CHARS), run.start),
    );
    suppressed.take(text.slice(run.start, run.bodyStart));
    suppressed.consume(text, run.bodyStart);
    this.suppressed = suppressed;
    this.pending = '';
    this.context = '';
    return out;
  }

  private endSuppression(): string {
    const suppressed = this.suppressed;
    if (suppressed === null) return '';
    this.suppressed = null;
    this.context = suppressed.tail;
    this.pending = '';
    return suppressed.mask.finish();
  }
}

/** A secret run too long to hold: swallowed while it lasts, only its length (and hash) kept. */
class Suppression {
  private dotsLeft: number;

  constructor(
    private readonly run: SecretRun,
    readonly mask: RunMask,
    /** The last CONTEXT_CHARS raw characters, for the look-behinds after the run. */
    public tail: string,
  ) {
    this.dotsLeft = run.dots;
  }

  take(text: string): void {
    if (text.length === 0) return;
    this.mask.update(text);
    this.tail = (this.tail + text).slice(-CONTEXT_CHARS);
  }

  /** Swallows text[from..] while it continues the run; returns where the run stops (text.length: it goes on). */
  consume(text: string, from: number): number {
    let i = from;
    while (i < text.length) {
      const code = text.charCodeAt(i);
      if (inSet(this.run.chars, code)) i++;
      else if (code === 46 && this.dotsLeft > 0) {
        this.dotsLeft--;
        i++;
      } else break;
    }
    this.take(text.slice(from, i));
    return i;
  }
}
