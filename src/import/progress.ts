/** Progress of an import, reported a few times a second (the CLI draws its bar from it). */
import type { ImportTally } from './report.js';

export interface ImportProgress {
  /** The file being read. */
  file: string;
  bytesDone: number;
  bytesTotal: number;
  /** Lines and Bundle entries read so far. */
  resources: number;
  rejected: number;
}

const INTERVAL_MS = 200;

export class Progress {
  private state: ImportProgress;
  private next = 0;

  constructor(
    bytesTotal: number,
    private readonly tally: ImportTally,
    private readonly report?: (p: ImportProgress) => void,
  ) {
    this.state = { file: '', bytesDone: 0, bytesTotal, resources: 0, rejected: 0 };
  }

  file(path: string): void {
    this.state.file = path;
    this.emit(true);
  }

  bytes(n: number): void {
    this.state.bytesDone += n;
  }

  resources(n = 1): void {
    this.state.resources += n;
    // Checking the clock on every line would cost more than the report is worth.
    if ((this.state.resources & 63) === 0 || n > 1) this.emit(false);
  }

  emit(force: boolean): void {
    if (!this.report) return;
    const now = Date.now();
    if (!force && now < this.next) return;
    this.next = now + INTERVAL_MS;
    this.report({ ...this.state, rejected: this.tally.rejected });
  }
}
